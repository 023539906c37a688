// The compiler and VM on a bare isolate (no core library), so that these
// tests depend only on the special forms, intrinsics and core natives.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "bare_isolate.h"
#include "lisp/fiber.h"
#include "lisp/function.h"
#include "lisp/isolate.h"
#include "lisp/opcodes.h"
#include "lisp/printer.h"

namespace valk::lisp {
namespace {

class VmTest : public BareIsolateTest {};

TEST_P(VmTest, Constants) {
  EXPECT_EQ(eval("1"), "1");
  EXPECT_EQ(eval("\"hi\""), "\"hi\"");
  EXPECT_EQ(eval("nil"), "nil");
  EXPECT_EQ(eval(":k"), ":k");
  EXPECT_EQ(eval("'(1 2)"), "(1 2)");
  EXPECT_EQ(eval("[1 2 [3]]"), "[1 2 [3]]");
}

TEST_P(VmTest, ArithmeticIsChecked) {
  EXPECT_EQ(eval("(+ 1 2)"), "3");
  EXPECT_EQ(eval("(* 6 7)"), "42");
  EXPECT_EQ(eval("(- 1 2.5)"), "-1.5");
  EXPECT_EQ(eval("(< 1 2)"), "true");
  EXPECT_EQ(eval("(>= 1 2)"), "false");
  // Mixed comparisons are exact: 2^53 + 1 is above the double 2^53.
  EXPECT_EQ(eval("(> 9007199254740993 9007199254740992.0)"), "true");
  EXPECT_EQ(eval("(apply > [9007199254740993 9007199254740992.0])"), "true");
  EXPECT_NE(eval("(+ 9223372036854775807 1)").find("integer overflow"), std::string::npos);
  EXPECT_NE(eval("(+ 1 \"a\")").find("type-error"), std::string::npos);
}

// (+ x 1), (- x 1), (< x 2) ... with a literal compile to the
// immediate instructions (OP_ADDI ... OP_JUMP_UNLESS_NUM_EQI); they must
// behave as the general forms, at the edges of the literal's range too.
TEST_P(VmTest, ImmediateOperandsBehaveAsTheGeneralForms) {
  EXPECT_EQ(eval("(def x 5) [(+ x 1) (+ 1 x) (- x 1) (- x -3) (+ x -8388608) (+ x 8388607)]"),
            "[6 6 4 8 -8388603 8388612]");
  // Just outside the range: an ordinary constant.
  EXPECT_EQ(eval("[(+ x 8388608) (- x -8388609)]"), "[8388613 8388614]");
  EXPECT_EQ(eval("(def d 2.5) [(+ d 1) (+ 1 d) (- d 1) (- 1 d)]"), "[3.5 3.5 1.5 -1.5]");
  EXPECT_EQ(eval("[(< x 6) (<= x 5) (> x 5) (>= x 6) (== x 5) (== d 2) (< d 3) (> d -1)]"),
            "[true true false false true false true true]");
  EXPECT_EQ(eval("[(if (< x 6) :y :n) (if (<= x 4) :y :n) (if (> x -1) :y :n)"
                 " (if (>= x 5) :y :n) (if (== x 5) :y :n) (if (== 5.0 5) :y :n)]"),
            "[:y :n :y :y :y :y]");
  // Comparisons take 32-bit literals.
  EXPECT_EQ(eval("(def big 3000000000) [(< big 2147483647) (> big -2147483648) (< big 2147483648)"
                 " (== big 3000000000) (if (>= x 10000000) 1 2)]"),
            "[false true false true 2]");
  EXPECT_EQ(eval("(def nan (- 0.0 (/ 0.0 0.0))) [(< nan 1) (>= nan 1) (if (== nan 1) 1 2)]"),
            "[false false 2]");
  EXPECT_NE(eval("(+ 9223372036854775807 1)").find("+: integer overflow"), std::string::npos);
  EXPECT_NE(eval("(- -9223372036854775808 1)").find("-: integer overflow"), std::string::npos);
  EXPECT_NE(eval("(def m 9223372036854775807) (+ 1 m)").find("overflow"), std::string::npos);
  std::string e = eval("(- \"a\" 1)");
  EXPECT_NE(e.find("type-error"), std::string::npos) << e;
  EXPECT_NE(e.find("-"), std::string::npos) << e;
  e = eval("(if (< :k 2) 1 2)");
  EXPECT_NE(e.find("type-error"), std::string::npos) << e;
  EXPECT_NE(e.find("<"), std::string::npos) << e;
  // Positions still point at the form with the literal.
  e = eval("(def f (fn [x]\n  (if (<= x 2) 1 2)))\n(f :a)");
  EXPECT_NE(e.find("test.lisp:2:"), std::string::npos) << e;
  // A loop counting with immediates.
  EXPECT_EQ(eval("(loop [i 0 s 0] (if (< i 10) (recur (+ i 1) (- s -2)) s))"), "20");
}

TEST_P(VmTest, IfDoAndOr) {
  EXPECT_EQ(eval("(if nil 1 2)"), "2");
  EXPECT_EQ(eval("(if false 1)"), "nil");
  EXPECT_EQ(eval("(if 0 1 2)"), "1");
  EXPECT_EQ(eval("(do 1 2 3)"), "3");
  EXPECT_EQ(eval("(and 1 2 3)"), "3");
  EXPECT_EQ(eval("(and 1 nil 3)"), "nil");
  EXPECT_EQ(eval("(or nil false 7)"), "7");
  EXPECT_EQ(eval("(or)"), "nil");
  EXPECT_EQ(eval("(and)"), "true");
}

TEST_P(VmTest, LetAndClosures) {
  EXPECT_EQ(eval("(let [a 1 b (+ a 1)] (+ a b))"), "3");
  EXPECT_EQ(eval("(+ 1 (let [x 2] x) 3)"), "6");
  EXPECT_EQ(eval("(def add (fn [a] (fn [b] (+ a b)))) ((add 2) 3)"), "5");
  EXPECT_EQ(eval("(let [x 1 f (fn [] (let [y 2] (fn [] (+ x y))))] ((f)))"), "3");
  EXPECT_EQ(eval("((fn fact [n] (if (< n 2) 1 (* n (fact (- n 1))))) 10)"), "3628800");
}

TEST_P(VmTest, VariadicAndMultiArity) {
  EXPECT_EQ(eval("((fn [a & more] more) 1 2 3)"), "(2 3)");
  EXPECT_EQ(eval("((fn [a & more] more) 1)"), "()");
  EXPECT_EQ(eval("(def f (fn ([] 0) ([a] 1) ([a b & c] 2))) [(f) (f 1) (f 1 2) (f 1 2 3)]"),
            "[0 1 2 2]");
  EXPECT_NE(eval("((fn [a] a))").find("wrong number of arguments"), std::string::npos);
}

TEST_P(VmTest, ParameterListsAreAccepted) {
  EXPECT_EQ(eval("((fn (a b) [a b]) 1 2)"), "[1 2]");
  EXPECT_EQ(eval("((fn () 7))"), "7");
  EXPECT_EQ(eval("((fn (a & more) more) 1 2 3)"), "(2 3)");
  EXPECT_EQ(eval("(def g (fn ((a) 1) ([a b] 2) (() 0))) [(g) (g 1) (g 1 2)]"), "[0 1 2]");
  EXPECT_NE(eval("(fn 1 2)").find("parameter vector"), std::string::npos);
}

TEST_P(VmTest, LoopRecurAndTailCalls) {
  EXPECT_EQ(eval("(loop [i 0 acc 0] (if (< i 10) (recur (inc i) (+ acc i)) acc))"), "45");
  // Ten million tail calls run in constant frame depth.
  EXPECT_EQ(eval("(def count-down (fn [n] (if (= n 0) :done (count-down (- n 1)))))"
                 "(count-down 10000000)"),
            ":done");
  EXPECT_EQ(eval("(def f (fn [n acc] (if (= n 0) acc (recur (dec n) (inc acc))))) (f 100 0)"),
            "100");
}

TEST_P(VmTest, RunawayRecursionIsAnError) {
  std::string r = eval("(def f (fn [n] (+ 1 (f n)))) (f 1)");
  EXPECT_NE(r.find("stack-overflow"), std::string::npos) << r;
}

TEST_P(VmTest, TryCatchFinally) {
  EXPECT_EQ(eval("(try (throw 1) (catch e (+ e 1)))"), "2");
  EXPECT_EQ(eval("(try 5 (catch e 0))"), "5");
  EXPECT_EQ(eval("(def log (atom [])) (try (try (throw :x) (finally (reset! log 1))) (catch e e))"),
            ":x");
  EXPECT_EQ(eval("(deref log)"), "1");
  EXPECT_EQ(eval("(try (error \"boom\" {:a 1}) (catch e (error-message e)))"), "\"boom\"");
  EXPECT_EQ(eval("(def g (fn [] (throw :deep))) (try (+ 1 (g)) (catch e [e]))"), "[:deep]");
  // The catch body raising still runs finally.
  EXPECT_EQ(eval("(def n (atom 0))"
                 "(try (try (throw 1) (catch e (throw 2)) (finally (reset! n 9))) (catch e e))"),
            "2");
  EXPECT_EQ(eval("(deref n)"), "9");
}

TEST_P(VmTest, ErrorsCarryPositions) {
  std::string r = eval("(def f (fn [x] (+ x :a)))\n(f 1)");
  EXPECT_NE(r.find("test.lisp:1:"), std::string::npos) << r;
  EXPECT_NE(r.find("at f"), std::string::npos) << r;
}

TEST_P(VmTest, Macros) {
  EXPECT_EQ(eval("(defmacro unless [c a b] (list 'if c b a)) (unless false 1 2)"), "1");
  EXPECT_EQ(eval("(defmacro twice [x] `(do ~x ~x)) (def c (atom 0)) (twice (reset! c 5))"), "5");
  EXPECT_EQ(eval("(defmacro lst [& xs] `(quote (a ~@xs b))) (lst 1 2)"), "(a 1 2 b)");
}

TEST_P(VmTest, KeywordsAndMapsAreCallable) {
  EXPECT_EQ(eval("(:a {:a 1})"), "1");
  EXPECT_EQ(eval("({:a 1} :a)"), "1");
  EXPECT_EQ(eval("(:b {:a 1} 7)"), "7");
  EXPECT_EQ(eval("([10 20] 1)"), "20");
  EXPECT_EQ(eval("(#{1 2} 2)"), "2");
}

TEST_P(VmTest, FibersAwaitSleepAll) {
  EXPECT_EQ(eval("(await (spawn (fn [] 42)))"), "42");
  EXPECT_EQ(eval("(await (sleep 1))"), "nil");
  EXPECT_EQ(eval("(await (all [(spawn (fn [] 1)) (spawn (fn [] (await (sleep 2)) 2))]))"), "[1 2]");
  EXPECT_EQ(eval("(await (race [(sleep 50) (spawn (fn [] :fast))]))"), ":fast");
  std::string t = eval("(await (timeout 5 (sleep 1000)))");
  EXPECT_NE(t.find("timeout"), std::string::npos) << t;
}

// A timer counts from its start, though the loop last turned long ago
// (its clock is as of its last turn).
TEST_P(VmTest, ATimerCountsFromItsStartAfterAnIdleGap) {
  for (const char* src : {"(await (sleep 200))",
                          "(try (await (timeout 200 (sleep 5000)))"
                          "  (catch e nil))"}) {
    EXPECT_EQ(eval("(await (sleep 0))"), "nil");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(eval(src), "nil");
    // (Not 200: libuv's clock is in whole milliseconds.)
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(190)) << src;
  }
}

// A fiber that a timer's callback makes ready runs at once, though the
// timer was due when the loop was entered and the loop has nothing else
// to do before another timer, far off: libuv 1.44's UV_RUN_ONCE runs the
// timers due on entry, then blocks in its poll until the next timer,
// whatever their callbacks made ready. The timer stays open (as a client
// library's does), so no closing handle keeps the poll from blocking.
struct DueTimer {
  uv_timer_t due;
  uv_timer_t far;
  uint32_t slot = 0;
};
DueTimer* due_timer = nullptr;

// (test/due): a promise that the open timer `due` resolves at once.
Value n_test_due(Isolate& iso, Value*, int) {
  Promise* p = iso.make_promise();
  due_timer->slot = iso.root(val(p));
  due_timer->due.data = &iso;
  uv_timer_start(
      &due_timer->due,
      [](uv_timer_t* t) {
        auto& iso = *static_cast<Isolate*>(t->data);
        auto* p = static_cast<Promise*>(iso.rooted(due_timer->slot).o);
        iso.unroot(due_timer->slot);
        iso.resolve(p, Value::integer(7));
      },
      0, 0);
  return val(p);
}

TEST_P(VmTest, AFiberMadeReadyByATimerDueOnEntryRunsAtOnce) {
  DueTimer timers;
  due_timer = &timers;
  uv_timer_init(iso_.loop(), &timers.due);
  uv_timer_init(iso_.loop(), &timers.far);
  uv_timer_start(
      &timers.far, [](uv_timer_t*) {}, 5000, 0);
  iso_.define_native("test/due", n_test_due, 0, 0);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(eval("(await (spawn (fn [] (await (test/due)))))"), "7");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  uv_close(reinterpret_cast<uv_handle_t*>(&timers.due), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&timers.far), nullptr);
  uv_run(iso_.loop(), UV_RUN_NOWAIT);
  due_timer = nullptr;
}

// The host's hook runs each time the loop is about to wait with no fiber
// ready, and only then.
TEST_P(VmTest, BeforeBlockHookRunsWhenTheLoopIsAboutToWait) {
  int calls = 0;
  iso_.set_before_block([&] { calls++; });
  EXPECT_EQ(eval("(+ 1 2)"), "3");
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(eval("(await (sleep 1))"), "nil");
  EXPECT_GE(calls, 1);
}

TEST_P(VmTest, CancelRunsFinally) {
  EXPECT_EQ(
      eval("(def cleaned (atom false))"
           "(def p (spawn (fn [] (try (await (sleep 10000)) (finally (reset! cleaned true))))))"
           "(await (sleep 1))"
           "(cancel p)"
           "(try (await p) (catch e (:type (error-data e))))"),
      ":cancelled");
  EXPECT_EQ(eval("(deref cleaned)"), "true");
}

TEST_P(VmTest, PreemptionLetsOthersRun) {
  // A loop that never awaits is preempted, so the spawned fiber finishes
  // first and the loop sees its flag.
  std::string r = eval(
      "(def flag (atom false))"
      "(let [p (spawn (fn [] (reset! flag true)))]"
      "  (loop [i 0] (if (deref flag) i (recur (inc i)))))");
  EXPECT_GT(std::stoll(r), 0) << r;
}

// Bytecode comes from the compiler only, but an opcode past the last one
// must still fail cleanly: the dispatch table is padded for every byte.
TEST_P(VmTest, InvalidOpcodesRaiseAnInternalError) {
  for (uint32_t op : {static_cast<uint32_t>(OP_COUNT_), 200u, 255u}) {
    Proto* p = iso_.heap().make<Proto>(Tag::Proto);
    p->code = {op, encode(OP_RETURN)};
    p->max_stack = 1;
    Closure* c = iso_.heap().make<Closure>(Tag::Closure);
    c->proto = p;
    EvalResult r = iso_.call(val(c), nullptr, 0);
    ASSERT_FALSE(r.ok);
    EXPECT_NE(iso_.describe(r.value).find("bad opcode " + std::to_string(op)), std::string::npos);
  }
}

// Each eval runs in a fiber whose stack goes back to the isolate when it
// finishes; the next fiber starts on it with stale values above its top.
// Results must not see them, with or without a collection in between.
TEST_P(VmTest, FibersReuseFinishedStacks) {
  eval("(def depth (fn [n] (if (== n 0) [] (let [v (depth (- n 1))] (if (< n 3) (conj v n) v)))))");
  // A fiber that dies of an error deep down leaves its frames behind.
  eval("(def boom (fn [n] (if (== n 0) (+ 1 \"a\") (+ 1 (boom (- n 1))))))");
  for (int round = 0; round < 3; round++) {
    EXPECT_NE(eval("(boom 500)").find("type-error"), std::string::npos);
    EXPECT_EQ(eval("(depth 3000)"), "[1 2]");
    EXPECT_EQ(eval("(let [a [1 2] b (str \"x\" 1)] [a b])"), "[[1 2] \"x1\"]");
    EXPECT_EQ(eval("((fn [p q] (let [r (+ p q)] [p q r])) 3 4)"), "[3 4 7]");
  }
}

// A fiber counts the heap bytes it allocates; past its allocation budget it
// raises :allocation-exceeded (once: a handler that catches it runs on).
TEST_P(VmTest, AFiberCountsWhatItAllocatesAndStopsAtItsBudget) {
  eval(
      "(def pile (fn [n] (loop [v [] i 0] (if (< i n) (recur (conj v i) (inc i)) (count v)))))"
      "(def caught (fn [n] (try (pile n) (catch e [(:type (error-data e)) (pile 1000)]))))"
      "(def counted (fn [n] (count (range n))))"
      "(def spawned (fn [n] (await (spawn (fn [] (pile n))))))");
  struct Run {
    std::string result;
    uint64_t allocated;
  };
  auto run = [&](const char* fn, int64_t n, uint64_t limit) {
    Value arg = Value::integer(n);
    Fiber* f = iso_.spawn_call(iso_.var(fn)->value, &arg, 1);
    f->allocation_limit = limit;
    uint32_t slot = iso_.root(val(f));
    EvalResult r = iso_.run_until(f->result);
    Run out{r.ok ? print_str(r.value, true) : "ERROR " + iso_.describe(r.value), f->allocated};
    iso_.unroot(slot);
    return out;
  };
  Run small = run("pile", 10, 0);
  EXPECT_EQ(small.result, "10");
  EXPECT_GT(small.allocated, 0u);
  EXPECT_LT(small.allocated, 4096u);
  // Smaller in stress mode, which collects at every safe point.
  const bool stress = GetParam();
  Run big = run("pile", stress ? 10000 : 100000, 0);
  EXPECT_EQ(big.result, stress ? "10000" : "100000");
  EXPECT_GE(big.allocated, (stress ? 10000u : 100000u) * 8);  // the elements alone
  EXPECT_LT(big.allocated, 64u << 20);
  // Checked at least every slice and before every collection.
  const uint64_t limit = stress ? 256 << 10 : 4 << 20;
  Run over = run("pile", 100000000, limit);
  EXPECT_NE(over.result.find("allocation-exceeded"), std::string::npos) << over.result;
  EXPECT_NE(over.result.find("allocation budget"), std::string::npos) << over.result;
  EXPECT_GE(over.allocated, limit);
  EXPECT_LT(over.allocated, limit + (8 << 20));
  EXPECT_EQ(run("caught", 100000000, limit).result, "[:allocation-exceeded 1000]");
  // One native call that would allocate gigabytes is refused before it
  // does; a smaller one goes.
  Run range = run("counted", 100000000, limit);
  EXPECT_NE(range.result.find("range: 6400000000 bytes would take the fiber past its allocation "
                              "budget"),
            std::string::npos)
      << range.result;
  EXPECT_LT(range.allocated, limit);
  EXPECT_EQ(run("counted", 1000, limit).result, "1000");
  // A fiber it spawns keeps to what it has left.
  EXPECT_NE(run("spawned", 100000000, limit).result.find("allocation-exceeded"), std::string::npos);
  EXPECT_EQ(run("spawned", 100, limit).result, "100");
}

INSTANTIATE_TEST_SUITE_P(Gc, VmTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Stress" : "Normal"; });

}  // namespace
}  // namespace valk::lisp

// Generations of an isolate's globals (what valk serve's reload loads the
// app into): code keeps the definitions it was compiled against, a new
// generation starts from the core library, defonce carries values over,
// and an abandoned generation leaves no trace. Run with the collector as
// usual and in stress mode.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "lisp/isolate.h"
#include "lisp/printer.h"

namespace valk::lisp {
namespace {

class GenerationsTest : public ::testing::TestWithParam<bool> {
 protected:
  GenerationsTest() : iso_(options(GetParam())) {
    iso_.mark_base();
    iso_.begin_generation();
    iso_.commit_generation();
  }

  static IsolateOptions options(bool stress) {
    IsolateOptions o;
    o.gc_stress = stress;
    return o;
  }

  std::string eval(const std::string& src) {
    EvalResult r = iso_.eval_string(src, "test.lisp");
    if (!r.ok) {
      return "ERROR " + iso_.describe(r.value);
    }
    return print_str(r.value, true);
  }

  Isolate iso_;
};

TEST_P(GenerationsTest, CodeKeepsTheDefinitionsItWasCompiledAgainst) {
  EXPECT_EQ(eval("(def v :one) (defn get-v [] v) (defn old [] (get-v))"), "old");
  uint32_t old_fn = iso_.root(iso_.var("old")->value);
  iso_.begin_generation();
  EXPECT_EQ(eval("(def v :two) (defn get-v [] v)"), "get-v");
  // Until committed, the new generation is the one code is compiled in.
  EXPECT_EQ(eval("(get-v)"), ":two");
  iso_.commit_generation();
  EXPECT_EQ(eval("(get-v)"), ":two");
  // The first generation's function, compiled against its own get-v and v.
  EvalResult r = iso_.call(iso_.rooted(old_fn), nullptr, 0);
  ASSERT_TRUE(r.ok) << iso_.describe(r.value);
  EXPECT_EQ(print_str(r.value, true), ":one");
  // `old` is not a name of the new generation.
  std::string e = eval("(old)");
  EXPECT_NE(e.find("unable to resolve symbol: old"), std::string::npos) << e;
  iso_.unroot(old_fn);
}

TEST_P(GenerationsTest, AnAbandonedGenerationLeavesNoTrace) {
  eval("(def v 1) (defn f [] v)");
  iso_.begin_generation();
  EXPECT_EQ(eval("(def v 2) (def w 3) [(f) v w]").substr(0, 5), "ERROR");
  EXPECT_EQ(eval("(defn f [] v) [(f) v w]"), "[2 2 3]");
  iso_.abandon_generation();
  EXPECT_EQ(eval("[(f) v]"), "[1 1]");
  EXPECT_NE(eval("w").find("unable to resolve symbol: w"), std::string::npos);
}

TEST_P(GenerationsTest, AGenerationStartsFromTheCoreLibraryAsItWas) {
  // An app that redefines a core function changes it for itself only.
  eval("(defn frequencies [x] :mine)");
  EXPECT_EQ(eval("(frequencies [1 1])"), ":mine");
  iso_.begin_generation();
  EXPECT_EQ(eval("(frequencies [1 1])"), "{1 2}");
  iso_.commit_generation();
}

TEST_P(GenerationsTest, DefonceKeepsItsValueAcrossGenerations) {
  EXPECT_EQ(eval("(defonce n (atom 0)) (defonce k 1) (defonce k 2) (swap! n inc) [k @n]"), "[1 1]");
  iso_.begin_generation();
  EXPECT_EQ(eval("(defonce n (atom 100)) (defonce k 3) (swap! n inc) [k @n]"), "[1 2]");
  iso_.commit_generation();
  // A plain def starts over.
  iso_.begin_generation();
  EXPECT_EQ(eval("(def n (atom 100)) (defonce k 4) @n"), "100");
  iso_.commit_generation();
  // Two generations on, what the last one had.
  iso_.begin_generation();
  EXPECT_EQ(eval("(defonce n :fresh) (defonce k 5) [@n k]"), "[100 1]");
  iso_.commit_generation();
  EXPECT_NE(eval("(defonce \"x\" 1)").find("the name in def must be a symbol"), std::string::npos);
  EXPECT_NE(eval("(valk.core/carry-over \"x\")").find("defonce: expected a symbol"),
            std::string::npos);
}

TEST_P(GenerationsTest, ModulesAreLoadedAgainInANewGeneration) {
  std::string dir = testing::TempDir() + "/generations_modules";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/counted.lisp") << "(defonce loads (atom 0)) (swap! loads inc)\n";
  std::string import = "(import \"" + dir + "/counted.lisp\") @loads";
  EXPECT_EQ(eval(import), "1");
  EXPECT_EQ(eval(import), "1");  // once per generation
  iso_.begin_generation();
  EXPECT_EQ(eval(import), "2");
  iso_.abandon_generation();
  // Loaded in this generation already; the atom is the one defonce carried
  // into the abandoned generation, which changed it.
  EXPECT_EQ(eval(import), "2");
}

INSTANTIATE_TEST_SUITE_P(Gc, GenerationsTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Stress" : "Normal"; });

}  // namespace
}  // namespace valk::lisp

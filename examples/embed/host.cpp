// An example host program embedding valk: defines a leaf native and an
// async native, evaluates Lisp that uses them, calls a Lisp function from
// C++ and reports a Lisp error. Built against the installed package by
// tests/embed/check_embed.sh.
#include <valk/valk.h>

#include <cstdio>
#include <vector>

int main() {
  valk::Runtime rt;

  // A leaf native: (host/add a b).
  rt.define_function(
      "host/add", 2, 2,
      [](valk::Runtime& rt, std::span<const valk::Value> args) -> valk::Result<valk::Value> {
        auto a = args[0].as_int();
        auto b = args[1].as_int();
        if (!a || !b) {
          return rt.error("type-error", "host/add: expected two integers");
        }
        return rt.integer(*a + *b);
      });

  // An async native: (host/later ms value) returns a promise that a libuv
  // timer on the runtime's loop resolves with `value` after `ms`.
  struct Pending {
    uv_timer_t timer;
    valk::Resolver resolver;
    valk::Value value;
  };
  rt.define_async_function(
      "host/later", 2, 2,
      [](valk::Runtime& rt, std::span<const valk::Value> args, valk::Resolver resolver) {
        auto* p = new Pending{{}, std::move(resolver), args[1]};
        uv_timer_init(rt.loop(), &p->timer);
        p->timer.data = p;
        uv_timer_start(
            &p->timer,
            [](uv_timer_t* t) {
              auto* p = static_cast<Pending*>(t->data);
              p->resolver.resolve(p->value);
              uv_close(reinterpret_cast<uv_handle_t*>(t),
                       [](uv_handle_t* h) { delete static_cast<Pending*>(h->data); });
            },
            static_cast<uint64_t>(args[0].as_int().value_or(0)), 0);
      });

  auto r = rt.eval(R"(
    (defn greet [name] (str "Hello, " name "!"))
    (+ (host/add 40 1) (await (host/later 10 1))))");
  if (!r) {
    fprintf(stderr, "%s\n", r.error().report.c_str());
    return 1;
  }
  printf("sum: %lld\n", static_cast<long long>(*r.value().as_int()));

  std::vector<valk::Value> args{rt.string("embedder")};
  auto greeting = rt.call(rt.global("greet"), args);
  printf("%s\n", greeting.value().as_string()->c_str());

  auto bad = rt.eval("(host/add 1 :two)", "bad.lisp");
  if (!bad) {
    printf("error type: %s\n", bad.error().type.c_str());
  }
  return 0;
}

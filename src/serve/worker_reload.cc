// Reloading the app in a running worker (SIGHUP, App::reload): the app
// file is loaded again in a fiber, as a new generation of the isolate's
// globals, while the requests in flight go on with the code they started
// with. Only a load that ends well, with no name left undefined and a call
// of (serve handler ...), replaces the handler; any other outcome drops the
// new generation, and the app goes on as it was.
#include <filesystem>

#include "lisp/fiber.h"
#include "serve/worker_internal.h"

namespace valk::serve {

using lisp::Isolate;
using lisp::Value;

std::string undefined_ref_error(Isolate& iso, const std::vector<lisp::UnresolvedRef>& refs) {
  // A name no form defined would fail each request that reaches it: say so
  // now, where it is used.
  for (const lisp::UnresolvedRef& ref : refs) {
    if (!ref.var->defined) {
      return iso.heap().file_name(ref.pos.file) + ":" + std::to_string(ref.pos.line) + ":" +
             std::to_string(ref.pos.column) +
             ": unable to resolve symbol: " + std::string(ref.var->name->name->view()) +
             " (used here, never defined)";
    }
  }
  return "";
}

void Worker::reload(ReloadDone done) {
  push_until_taken(WorkerMessage::Kind::Call, [this, done] { start_reload(done); });
}

std::vector<std::string> Worker::source_files() {
  std::vector<std::string> files;
  call([&] { files = iso_->generation_modules(); });
  std::error_code ec;
  files.push_back(std::filesystem::absolute(options_.app_file, ec).string());
  return files;
}

void WorkerAccess::on_reloaded(Isolate&, lisp::NativeReaction* self, lisp::Promise* p) {
  static_cast<Worker*>(self->data)->finish_reload(p);
}

void Worker::start_reload(ReloadDone done) {
  if (reload_ != nullptr) {
    done(false, "a reload is running already");
    return;
  }
  Isolate& iso = *iso_;
  reload_ = std::make_unique<Reload>();
  reload_->done = std::move(done);
  iso.begin_generation();
  iso.unresolved_refs = &reload_->refs;
  // Loaded as a module, whose top level may await like the first load's.
  std::error_code ec;
  std::string path = std::filesystem::absolute(options_.app_file, ec).string();
  Value arg = iso.heap().string(path);
  lisp::Fiber* fiber = iso.spawn_call(iso.var("import")->value, &arg, 1);
  reload_->fiber_serial = fiber->serial;
  reload_->deadline_ms = uv_now(iso.loop()) + deadline_ms_;
  fiber->deadline_ms = reload_->deadline_ms;
  fiber->instruction_limit = instruction_budget_;
  fiber->allocation_limit = allocation_budget_;
  reload_->promise_slot = iso.root(val(fiber->result));
  auto* reaction =
      iso.heap().make_class<lisp::NativeReaction>(lisp::Tag::Internal, &lisp::kNativeReactionClass);
  reaction->fn = WorkerAccess::on_reloaded;
  reaction->data = this;
  iso.on_settle(fiber->result, reaction);
}

void Worker::finish_reload(lisp::Promise* result) {
  Isolate& iso = *iso_;
  std::unique_ptr<Reload> r = std::move(reload_);
  iso.unresolved_refs = nullptr;
  iso.unroot(r->promise_slot);
  std::string error;
  if (result->state != lisp::PromiseState::Fulfilled) {
    error = iso.describe(result->value);
    if (r->deadline_ms == kNoDeadline) {  // sweep_deadlines cancelled it
      error = "loading " + options_.app_file + " ran past the deadline (" +
              std::to_string(deadline_ms_) + " ms): " + error;
    }
  } else {
    error = undefined_ref_error(iso, r->refs);
    if (error.empty() && r->app_slot == kNoSlot) {
      error = options_.app_file + ": the app never called (serve handler {...})";
    }
  }
  if (!error.empty()) {
    if (r->app_slot != kNoSlot) {
      iso.unroot(r->app_slot);
    }
    iso.abandon_generation();
    r->done(false, error);
    return;
  }
  iso.commit_generation();
  iso.unroot(app_slot_);
  app_slot_ = r->app_slot;
  uint32_t generation = generation_.load(std::memory_order_relaxed) + 1;
  generation_.store(generation, std::memory_order_release);
  // The handler's deadline and budgets apply from now on; the other
  // settings (addresses, TLS, threads...) were used to start the server and
  // need a restart.
  ServeConfig now = r->config;
  now.override_with(options_.flags);
  deadline_ms_ = now.request_deadline_ms.value_or(kDefaultDeadlineMs);
  instruction_budget_ = now.instruction_budget.value_or(kDefaultInstructionBudget);
  allocation_budget_ = now.allocation_budget.value_or(kDefaultAllocationBudget);
  now.request_deadline_ms = config_.request_deadline_ms;
  now.instruction_budget = config_.instruction_budget;
  now.allocation_budget = config_.allocation_budget;
  if (!(now == config_) && options_.index == 0) {
    log(LogLevel::kWarn,
        "reload: the app's (serve ...) settings changed; all but :deadline-ms, "
        ":instruction-budget and :allocation-budget take effect on a restart");
  }
  r->done(true, "");
}

}  // namespace valk::serve

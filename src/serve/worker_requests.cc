// What a worker holds, for the /requests page of the metrics listener:
// each request in flight with what its fiber is doing. A fiber's frames
// are data, so a parked handler's whole Lisp stack can be shown.
#include <algorithm>
#include <vector>

#include "lisp/fiber.h"
#include "net/log.h"
#include "serve/http_map.h"
#include "serve/worker_internal.h"

namespace valk::serve {

namespace {

void json_string(std::string* out, std::string_view s) {
  out->push_back('"');
  net::json_escape(*out, s);
  out->push_back('"');
}

}  // namespace

size_t Worker::describe_requests(std::string* out, size_t max) {
  lisp::Isolate& iso = *iso_;
  std::vector<const InFlight*> held;
  held.reserve(in_flight_.size());
  for (const auto& [id, f] : in_flight_) {
    held.push_back(f.get());
  }
  std::sort(held.begin(), held.end(), [](const InFlight* a, const InFlight* b) {
    return a->begun_ms < b->begun_ms ||
           (a->begun_ms == b->begun_ms && a->request->id < b->request->id);
  });
  uint64_t now = uv_now(iso.loop());
  size_t shown = 0;
  for (const InFlight* f : held) {
    if (shown == max) {
      break;
    }
    const HttpRequest& r = *f->request;
    if (shown > 0) {
      out->push_back(',');
    }
    *out += "{\"worker\":" + std::to_string(options_.index) + ",\"id\":";
    json_string(out, f->request_id());
    *out += ",\"method\":";
    json_string(out, r.method);
    *out += ",\"path\":";
    json_string(out, r.path);
    *out += ",\"protocol\":";
    json_string(out, protocol_text(r.protocol));
    *out += ",\"age_ms\":" + std::to_string(now - f->begun_ms);
    // The handler's fiber, or the writer's once the response streams.
    auto* promise = static_cast<lisp::Promise*>(iso.rooted(f->promise_slot).o);
    lisp::Fiber* fiber = promise->fiber;
    // Its work and allocation so far (the budgets' units), as of its last
    // slice.
    *out += ",\"instructions\":" + std::to_string(fiber != nullptr ? fiber->instructions : 0);
    *out += ",\"allocated_bytes\":" + std::to_string(fiber != nullptr ? fiber->allocated : 0);
    *out += ",\"route\":";
    if (fiber != nullptr && fiber->label.is(lisp::Tag::String)) {
      json_string(out, static_cast<lisp::String*>(fiber->label.o)->view());
    } else {
      *out += "null";
    }
    *out += ",\"streaming\":";
    *out += f->streaming ? "true" : "false";
    const char* state = fiber == nullptr                           ? "done"
                        : fiber->state == lisp::FiberState::Parked ? "parked"
                        : fiber->state == lisp::FiberState::Done   ? "done"
                                                                   : "running";
    *out += ",\"state\":\"";
    *out += state;
    // Answered already (a 503 past its deadline) or left by its client,
    // while the fiber has not yet stopped.
    *out += "\",\"answered\":";
    *out += f->answered ? "true" : "false";
    *out += ",\"waiting_on\":";
    if (fiber == nullptr || fiber->state != lisp::FiberState::Parked) {
      *out += "null";
    } else if (f->drain_slot != kNoSlot) {
      json_string(out, "write: the client to take what was written");
    } else if (f->read_slot != kNoSlot) {
      json_string(out, "the request body");
    } else if (fiber->waiting_on != nullptr && fiber->waiting_on->op != nullptr) {
      json_string(out, fiber->waiting_on->op->describe());
    } else if (fiber->waiting_on != nullptr && fiber->waiting_on->fiber != nullptr) {
      json_string(out, "another fiber");
    } else {
      json_string(out, "a promise");
    }
    *out += ",\"stack\":[";
    if (fiber != nullptr) {
      bool first = true;
      for (const lisp::TraceEntry& t : iso.trace_of(fiber)) {
        std::string frame = t.function;
        if (t.pos.line != 0) {
          frame += " (" + iso.heap().file_name(t.pos.file) + ":" + std::to_string(t.pos.line) +
                   ":" + std::to_string(t.pos.column) + ")";
        }
        if (!first) {
          out->push_back(',');
        }
        first = false;
        json_string(out, frame);
      }
    }
    *out += "]}";
    shown++;
  }
  return held.size();
}

}  // namespace valk::serve

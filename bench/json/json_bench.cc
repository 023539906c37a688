// Parses and writes a generated JSON document of about 1 MB, N times each,
// and prints the throughput in MB per CPU second. The document looks like an API response: an
// array of records with short ASCII strings, a few escapes and non-ASCII
// characters, ints, doubles, booleans, nulls and nested objects.
//
//   json_bench [iterations] [file.json]
//
// With a file, benchmarks that file instead of the generated document.
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>

#include "lisp/heap.h"
#include "lisp/json.h"

using namespace valk::lisp;

namespace {

std::string make_document() {
  std::string doc = "[";
  for (int i = 0; doc.size() < 1000000; i++) {
    if (i > 0) {
      doc += ",\n";
    }
    std::string n = std::to_string(i);
    doc += "{\"id\": " + n + ", \"name\": \"user " + n + "\", \"email\": \"user" + n +
           "@example.com\", \"active\": " + (i % 3 ? "true" : "false") +
           ", \"score\": " + std::to_string(i * 0.37) + ", \"manager\": null" +
           ", \"tags\": [\"admin\", \"ops\", \"t" + n + "\"]" + ", \"address\": {\"street\": \"" +
           n + " Main Street\", \"city\": \"Z\\u00fcrich\", \"zip\": \"80" + n + "\"}" +
           ", \"bio\": \"Likes \\\"quotes\\\",\\nnew lines and caf\xC3\xA9s \xE2\x98\x95\"}";
  }
  doc += "]";
  return doc;
}

// CPU time of this process: the machines we measure on are shared, and
// wall time there measures the neighbours.
double cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  int iterations = argc > 1 ? atoi(argv[1]) : 50;
  std::string doc;
  if (argc > 2) {
    std::ifstream in(argv[2], std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    doc = ss.str();
  } else {
    doc = make_document();
  }
  double mb = doc.size() / 1e6;

  // Each iteration gets a fresh heap, as a request's parse would not share
  // its garbage with the next; the heap's teardown is not timed.
  double parse_s = 0;
  double write_s = 0;
  size_t out_size = 0;
  for (int i = 0; i < iterations; i++) {
    Heap heap;
    Value v;
    JsonError err;
    double t0 = cpu_seconds();
    if (!json_parse(heap, doc, JsonParseOptions(), &v, &err)) {
      fprintf(stderr, "parse error: %s\n", err.to_string().c_str());
      return 1;
    }
    parse_s += (cpu_seconds() - t0);
    std::string out;
    std::string werr;
    t0 = cpu_seconds();
    if (!json_write(v, JsonWriteOptions(), &out, &werr)) {
      fprintf(stderr, "write error: %s\n", werr.c_str());
      return 1;
    }
    write_s += (cpu_seconds() - t0);
    out_size = out.size();
  }
  // Writing alone, many times over one value, as a server writes responses.
  {
    Heap heap;
    Value v;
    json_parse(heap, doc, JsonParseOptions(), &v, nullptr);
    std::string out;
    double t0 = cpu_seconds();
    for (int i = 0; i < iterations; i++) {
      out.clear();
      json_write(v, JsonWriteOptions(), &out, nullptr);
    }
    double s = (cpu_seconds() - t0);
    printf("write (warm): %8.1f MB/s\n", out.size() / 1e6 * iterations / s);
  }
  printf("document: %.2f MB, %d iterations\n", mb, iterations);
  printf("parse: %8.1f MB/s\n", mb * iterations / parse_s);
  printf("write: %8.1f MB/s (output %.2f MB)\n", out_size / 1e6 * iterations / write_s,
         out_size / 1e6);
  return 0;
}

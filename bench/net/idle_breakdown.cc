// idle_breakdown: where the memory of one idle TLS + h2 connection goes.
//
// Counts the heap bytes still held (malloc_usable_size, so allocator
// rounding included) by
//   - one server SSL from valk's TlsContext on its TlsTransport, after a
//     TLS 1.3 handshake with an in-process client and one record each way
//     (OpenSSL's allocations, through CRYPTO_set_mem_functions, by site);
//   - one nghttp2 server session with the settings H2Session::init sends,
//     after the client preface, SETTINGS, SETTINGS ACK and a PING (through
//     nghttp2_mem).
// Heap bytes are an upper bound on RSS: pages never touched (most of
// nghttp2's 16 KiB frame buffer) cost address space only.
//
//   cmake --build build --target idle_breakdown && build/bench/net/idle_breakdown
#include <malloc.h>
#include <nghttp2/nghttp2.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include <cstdio>
#include <map>
#include <string>

#include "net/tls.h"

namespace {

using valk::net::BufChain;
using valk::net::BufferPool;
using valk::net::TlsTransport;

// ---- counting OpenSSL's allocations by call site ----

bool g_counting = false;
std::map<void*, std::string>* g_site;  // live block -> "file:line"
size_t g_live = 0;

void note(void* p, const char* file, int line) {
  if (g_counting && p != nullptr) {
    g_counting = false;  // the map allocates through malloc, not OpenSSL
    (*g_site)[p] = std::string(file != nullptr ? file : "?") + ":" + std::to_string(line);
    g_live += malloc_usable_size(p);
    g_counting = true;
  }
}

void forget(void* p) {
  if (g_counting && p != nullptr) {
    g_counting = false;
    if (g_site->erase(p) != 0) {
      g_live -= malloc_usable_size(p);
    }
    g_counting = true;
  }
}

void* c_malloc(size_t n, const char* file, int line) {
  void* p = malloc(n);
  note(p, file, line);
  return p;
}

void* c_realloc(void* p, size_t n, const char* file, int line) {
  forget(p);
  void* q = realloc(p, n);
  note(q, file, line);
  return q;
}

void c_free(void* p, const char*, int) {
  forget(p);
  free(p);
}

// Feeds the client's output to the server and back until neither moves.
void pump(SSL* client, SSL* server, TlsTransport* t, BufChain* wire, BufferPool* pool) {
  for (int round = 0; round < 10; ++round) {
    SSL_do_handshake(client);
    std::string c2s;
    char buf[16384];
    int n;
    while ((n = BIO_read(SSL_get_wbio(client), buf, sizeof buf)) > 0) {
      c2s.append(buf, static_cast<size_t>(n));
    }
    t->in = reinterpret_cast<const uint8_t*>(c2s.data());
    t->in_len = c2s.size();
    g_counting = true;
    if (SSL_is_init_finished(server)) {
      SSL_read(server, buf, sizeof buf);
    } else {
      SSL_do_handshake(server);
    }
    g_counting = false;
    for (valk::net::Buf& b : wire->bufs()) {
      BIO_write(SSL_get_rbio(client), b.data, static_cast<int>(b.len));
    }
    wire->release(*pool);
  }
}

void tls_breakdown() {
  valk::ServerOptions opts;
  opts.certificates = {{VALK_SOURCE_DIR "/certs/dev.crt", VALK_SOURCE_DIR "/certs/dev.key"}};
  valk::net::TlsContext ctx;
  std::string error;
  if (!ctx.init(opts, &error)) {
    fprintf(stderr, "idle_breakdown: %s\n", error.c_str());
    return;
  }
  SSL_CTX* cctx = SSL_CTX_new(TLS_client_method());
  static const unsigned char kAlpn[] = "\x02h2";
  SSL_CTX_set_alpn_protos(cctx, kAlpn, sizeof kAlpn - 1);
  BufferPool pool;
  // The first connection builds OpenSSL's lazily made tables; count the second.
  for (int conn = 0; conn < 2; ++conn) {
    BufChain wire;
    TlsTransport t{nullptr, 0, &wire, &pool};
    g_site->clear();
    g_live = 0;
    g_counting = true;
    SSL* server = ctx.new_ssl(&t);
    g_counting = false;
    size_t after_new = g_live;
    SSL* client = SSL_new(cctx);
    SSL_set_bio(client, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
    SSL_set_connect_state(client);
    pump(client, server, &t, &wire, &pool);
    g_counting = true;
    SSL_write(server, "ping", 4);
    g_counting = false;
    SSL_write(client, "pong", 4);
    pump(client, server, &t, &wire, &pool);
    if (conn == 1) {
      printf("OpenSSL, one server SSL (%s, %s):\n", SSL_get_version(server),
             SSL_get_cipher_name(server));
      printf("  %6zu bytes after SSL_new, %zu after the handshake and a record each way\n",
             after_new, g_live);
      std::map<std::string, std::pair<size_t, int>> by_site;
      for (auto& [p, site] : *g_site) {
        by_site[site].first += malloc_usable_size(p);
        by_site[site].second++;
      }
      for (auto& [site, v] : by_site) {
        printf("  %6zu  %2d  %s\n", v.first, v.second, site.c_str());
      }
    }
    SSL_free(client);
    SSL_free(server);
  }
  SSL_CTX_free(cctx);
}

// ---- nghttp2 through nghttp2_mem ----

struct NgCount {
  size_t live = 0;
  std::map<size_t, int> sizes;  // requested size -> live blocks
  std::map<void*, size_t> req;
};

void ng_note(NgCount* c, void* p, size_t n) {
  if (p != nullptr) {
    c->live += malloc_usable_size(p);
    c->req[p] = n;
    c->sizes[n]++;
  }
}

void ng_forget(NgCount* c, void* p) {
  auto it = c->req.find(p);
  if (it != c->req.end()) {
    c->live -= malloc_usable_size(p);
    if (--c->sizes[it->second] == 0) {
      c->sizes.erase(it->second);
    }
    c->req.erase(it);
  }
}

void* ng_malloc(size_t n, void* u) {
  void* p = malloc(n);
  ng_note(static_cast<NgCount*>(u), p, n);
  return p;
}

void ng_free(void* p, void* u) {
  ng_forget(static_cast<NgCount*>(u), p);
  free(p);
}

void* ng_calloc(size_t k, size_t n, void* u) {
  void* p = calloc(k, n);
  ng_note(static_cast<NgCount*>(u), p, k * n);
  return p;
}

void* ng_realloc(void* p, size_t n, void* u) {
  ng_forget(static_cast<NgCount*>(u), p);
  void* q = realloc(p, n);
  ng_note(static_cast<NgCount*>(u), q, n);
  return q;
}

void nghttp2_breakdown() {
  NgCount count;
  nghttp2_mem mem{&count, ng_malloc, ng_free, ng_calloc, ng_realloc};
  nghttp2_session_callbacks* cb;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session* s;
  nghttp2_session_server_new3(&s, cb, nullptr, nullptr, &mem);
  nghttp2_session_callbacks_del(cb);
  // As H2Session::init, with the default limits.
  valk::ServerLimits lim;
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, lim.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, lim.max_header_list_size},
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
  };
  nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]);
  nghttp2_session_set_local_window_size(s, NGHTTP2_FLAG_NONE, 0, 16 << 20);
  static const char kIn[] =
      "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
      "\0\0\0\x04\0\0\0\0\0"             // SETTINGS
      "\0\0\0\x04\x01\0\0\0\0"           // SETTINGS ACK
      "\0\0\x08\x06\0\0\0\0\0idlemem!";  // PING
  nghttp2_session_mem_recv(s, reinterpret_cast<const uint8_t*>(kIn), sizeof kIn - 1);
  const uint8_t* out;
  while (nghttp2_session_mem_send(s, &out) > 0) {
  }
  printf("nghttp2 %s, one server session after the SETTINGS exchange:\n",
         nghttp2_version(0)->version_str);
  printf("  %6zu bytes held\n", count.live);
  for (auto& [n, k] : count.sizes) {
    printf("  %6zu bytes requested  x%d\n", n, k);
  }
  nghttp2_session_del(s);
}

}  // namespace

int main() {
  // Before anything else touches OpenSSL: the hooks can only be set first.
  g_site = new std::map<void*, std::string>;
  if (CRYPTO_set_mem_functions(c_malloc, c_realloc, c_free) != 1) {
    fprintf(stderr, "idle_breakdown: CRYPTO_set_mem_functions failed\n");
    return 1;
  }
  tls_breakdown();
  nghttp2_breakdown();
  return 0;
}

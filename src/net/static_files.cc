#include "valk/static_files.h"

#include "net/file_body.h"
#include "util/ascii.h"
#include "util/hex.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iterator>
#include <memory>
#include <optional>
#include <unordered_map>

namespace valk {

namespace {

struct Mime {
  std::string_view ext;  // lower case
  const char* type;
};

constexpr Mime kMimes[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"txt", "text/plain; charset=utf-8"},
    {"md", "text/markdown; charset=utf-8"},
    {"xml", "application/xml"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"avif", "image/avif"},
    {"ico", "image/x-icon"},
    {"wasm", "application/wasm"},
    {"pdf", "application/pdf"},
    {"zip", "application/zip"},
    {"gz", "application/gzip"},
    {"tar", "application/x-tar"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"ttf", "font/ttf"},
    {"otf", "font/otf"},
    {"mp4", "video/mp4"},
    {"webm", "video/webm"},
    {"mp3", "audio/mpeg"},
    {"ogg", "audio/ogg"},
    {"wav", "audio/wav"},
    {"csv", "text/csv; charset=utf-8"},
    {"lisp", "text/plain; charset=utf-8"},
    {"map", "application/json"},
};

// Percent-decodes a path; false if malformed or it holds a NUL.
bool decode_path(std::string_view in, std::string* out) {
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) {
        return false;
      }
      int h = hex_value(in[i + 1]), l = hex_value(in[i + 2]);
      if (h < 0 || l < 0) {
        return false;
      }
      c = static_cast<char>(h * 16 + l);
      i += 2;
    }
    if (c == '\0') {
      return false;
    }
    out->push_back(c);
  }
  return true;
}

bool has_dotdot(std::string_view p) {
  size_t i = 0;
  while (i <= p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string_view::npos) {
      j = p.size();
    }
    if (p.substr(i, j - i) == "..") {
      return true;
    }
    i = j + 1;
  }
  return false;
}

std::string http_date(time_t t) {
  struct tm tm;
  gmtime_r(&t, &tm);
  char b[64];
  strftime(b, sizeof b, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return b;
}

time_t parse_http_date(std::string_view s) {
  struct tm tm {};
  std::string str(s);
  if (strptime(str.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm) == nullptr) {
    return -1;
  }
  return timegm(&tm);
}

// Parses a single "bytes=a-b" range against `size`. Returns 1 with the range
// set, 0 when the header should be ignored, -1 when unsatisfiable.
int parse_range(std::string_view h, uint64_t size, uint64_t* from, uint64_t* len) {
  if (h.substr(0, 6) != "bytes=" || h.find(',') != std::string_view::npos) {
    return 0;
  }
  h.remove_prefix(6);
  size_t dash = h.find('-');
  if (dash == std::string_view::npos) {
    return 0;
  }
  std::string a(h.substr(0, dash)), b(h.substr(dash + 1));
  auto digits = [](const std::string& x) {
    return !x.empty() && x.size() < 19 && x.find_first_not_of("0123456789") == std::string::npos;
  };
  if (a.empty()) {
    if (!digits(b)) {
      return 0;
    }
    uint64_t suffix = std::stoull(b);
    if (suffix == 0 || size == 0) {
      return -1;
    }
    suffix = std::min(suffix, size);
    *from = size - suffix;
    *len = suffix;
    return 1;
  }
  if (!digits(a) || (!b.empty() && !digits(b))) {
    return 0;
  }
  uint64_t first = std::stoull(a);
  uint64_t last = b.empty() ? size - 1 : std::stoull(b);
  if (first >= size) {
    return -1;
  }
  if (last < first) {
    return 0;
  }
  last = std::min(last, size - 1);
  *from = first;
  *len = last - first + 1;
  return 1;
}

struct StaticRoot {
  ~StaticRoot() {
    if (root_fd >= 0) {
      close(root_fd);
    }
  }
  std::string root;  // realpath, no trailing slash
  int root_fd = -1;  // O_PATH directory for openat2
  uint64_t id = 0;   // distinguishes roots in the per-thread cache
  StaticOptions opts;
};

// Opens `rel` (relative, decoded, no ".." segments) under the root. With
// openat2(RESOLVE_BENEATH) the kernel refuses any escape, symlinks
// included, in one syscall; older kernels fall back to realpath. Returns
// the fd, or -1 with *status set to 404 or 403.
int open_beneath(const StaticRoot& sr, const std::string& rel, int* status) {
  static bool have_openat2 = true;
  if (have_openat2) {
    open_how how{};
    how.flags = O_RDONLY | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    long fd = syscall(SYS_openat2, sr.root_fd, rel.empty() ? "." : rel.c_str(), &how, sizeof how);
    if (fd >= 0) {
      return static_cast<int>(fd);
    }
    if (errno != ENOSYS) {
      *status = errno == ENOENT || errno == ENOTDIR ? 404 : 403;
      return -1;
    }
    have_openat2 = false;
  }
  std::string full = sr.root + "/" + rel;
  char real[PATH_MAX];
  if (realpath(full.c_str(), real) == nullptr) {
    *status = errno == ENOENT || errno == ENOTDIR ? 404 : 403;
    return -1;
  }
  if (strncmp(real, sr.root.c_str(), sr.root.size()) != 0 ||
      (real[sr.root.size()] != '/' && real[sr.root.size()] != '\0')) {
    *status = 403;
    return -1;
  }
  int fd = open(real, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *status = errno == ENOENT ? 404 : 403;
  }
  return fd;
}

// Precompressed forms of a file, made ahead of time beside it, in the
// order a tie in the client's q-values is settled (brotli is smaller).
struct Sibling {
  const char* suffix;
  const char* coding;
};
constexpr Sibling kSiblings[] = {{".br", "br"}, {".gz", "gzip"}};

// What a response needs to know about a file. Small files carry their
// bytes (shared with the cache); large ones an open fd.
struct FileInfo {
  int fd = -1;
  uint64_t size = 0;
  time_t mtime = 0;
  std::string etag, last_mod;
  const char* mime = "";
  std::shared_ptr<const std::string> body;
  std::string rel;       // the file's path under the root (an index resolved)
  uint8_t siblings = 0;  // bits of kSiblings: which are regular files beside it
};

// Small files are cached per reactor thread for a second, which spares the
// open/fstat/read/close of every request for a hot file; a change on disk
// is seen within that second.
struct CacheEntry {
  FileInfo info;
  uint64_t loaded_ms;
};
constexpr uint64_t kCacheTtlMs = 1000;
constexpr size_t kCacheMaxEntries = 1024;

uint64_t coarse_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return ts.tv_sec * 1000ull + ts.tv_nsec / 1000000;
}

std::atomic<uint64_t> g_root_ids{0};

// Opens the file for `path` (decoded, starting with '/'). Returns 0 with
// *info filled, or an HTTP status: 301 (directory without slash), 403, 404.
int open_file(const StaticRoot& sr, const std::string& path, FileInfo* info) {
  std::string rel = path.substr(1);
  int status = 0;
  int fd = open_beneath(sr, rel, &status);
  struct stat st;
  if (fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    close(fd);
    if (path.back() != '/') {
      return 301;
    }
    rel += sr.opts.index;
    fd = open_beneath(sr, rel, &status);
    if (fd >= 0 && fstat(fd, &st) != 0) {
      close(fd);
      fd = -1;
      status = 403;
    }
  }
  if (fd >= 0 && !S_ISREG(st.st_mode)) {
    close(fd);
    return S_ISDIR(st.st_mode) ? 404 : 403;
  }
  if (fd < 0) {
    return status == 404 ? 404 : 403;
  }
  info->size = static_cast<uint64_t>(st.st_size);
  info->mtime = st.st_mtim.tv_sec;
  char etag[64];
  snprintf(etag, sizeof etag, "\"%llx-%llx\"", static_cast<unsigned long long>(info->size),
           static_cast<unsigned long long>(st.st_mtim.tv_sec * 1000000000ll + st.st_mtim.tv_nsec));
  info->etag = etag;
  info->last_mod = http_date(st.st_mtim.tv_sec);
  info->mime = mime_type(rel);
  info->rel = rel;
  for (size_t i = 0; sr.opts.precompressed && i < std::size(kSiblings); ++i) {
    int ignored = 0;
    int sib = open_beneath(sr, rel + kSiblings[i].suffix, &ignored);
    struct stat sst;
    if (sib >= 0 && fstat(sib, &sst) == 0 && S_ISREG(sst.st_mode)) {
      info->siblings |= 1 << i;
    }
    if (sib >= 0) {
      close(sib);
    }
  }
  if (info->size <= sr.opts.inline_limit) {
    auto body = std::make_shared<std::string>(info->size, '\0');
    ssize_t n = info->size == 0 ? 0 : pread(fd, body->data(), info->size, 0);
    close(fd);
    if (n != static_cast<ssize_t>(info->size)) {
      return 403;
    }
    info->body = std::move(body);
  } else {
    info->fd = fd;
  }
  return 0;
}

// The file for `path` (decoded, starting with '/'): from this thread's
// cache, used in place (no copy of its strings), or loaded into *loaded.
// Null with *status set (301, 403, 404) if there is none.
const FileInfo* find_file(const StaticRoot& sr, const std::string& path, FileInfo* loaded,
                          int* status) {
  thread_local std::unordered_map<std::string, CacheEntry> cache;
  std::string key = std::to_string(sr.id) + ":" + path;
  uint64_t now = coarse_ms();
  auto it = cache.find(key);
  if (it != cache.end() && now - it->second.loaded_ms < kCacheTtlMs) {
    return &it->second.info;
  }
  if (it != cache.end()) {
    cache.erase(it);
  }
  *status = open_file(sr, path, loaded);
  if (*status != 0) {
    return nullptr;
  }
  if (loaded->body != nullptr) {
    if (cache.size() >= kCacheMaxEntries) {
      cache.clear();
    }
    cache.emplace(std::move(key), CacheEntry{*loaded, now});
  }
  return loaded;
}

// A directory asked for without its trailing slash: relative links in its
// index only resolve with it.
void redirect_to_directory(const Request& req, const Responder& res) {
  std::string loc(req.path());
  loc += '/';
  if (!req.query().empty()) {
    loc += '?';
    loc += req.query();
  }
  res.respond(301, {{"location", loc}}, "");
}

void serve(const StaticRoot& sr, Request& req, Responder res) {
  std::string_view method = req.method();
  if (method != "GET" && method != "HEAD") {
    res.respond(405, {{"allow", "GET, HEAD"}}, "");
    return;
  }
  std::string_view url_path = req.path();
  if (url_path.starts_with(sr.opts.url_prefix)) {
    url_path.remove_prefix(sr.opts.url_prefix.size());
  }
  if (url_path.empty()) {
    redirect_to_directory(req, res);  // "/assets" → "/assets/"
    return;
  }
  std::string path;
  if (!decode_path(url_path, &path) || path.empty() || path[0] != '/') {
    res.respond(400, {}, "bad path\n");
    return;
  }
  if (has_dotdot(path)) {
    res.respond(403, {}, "forbidden\n");
    return;
  }
  FileInfo loaded;
  int status = 0;
  const FileInfo* found = find_file(sr, path, &loaded, &status);
  if (status == 301) {
    redirect_to_directory(req, res);
    return;
  }
  if (status == 404) {
    res.respond(404, {{"content-type", "text/plain"}}, "not found\n");
    return;
  }
  if (status != 0) {
    res.respond(403, {}, "forbidden\n");
    return;
  }
  const char* mime = found->mime;
  bool has_siblings = found->siblings != 0;
  // The sibling the client takes with the highest q, in place of the file
  // (the file itself if that sibling is gone since).
  const Sibling* coded = nullptr;
  double best_q = 0;
  std::string_view accept_encoding = has_siblings ? req.header("accept-encoding") : "";
  for (size_t i = 0; i < std::size(kSiblings); ++i) {
    double q =
        (found->siblings >> i & 1) != 0 ? accepted_q(accept_encoding, kSiblings[i].coding) : 0;
    if (q > best_q) {
      best_q = q;
      coded = &kSiblings[i];
    }
  }
  FileInfo loaded_sibling;
  if (coded != nullptr) {
    int ignored = 0;
    const FileInfo* sibling =
        find_file(sr, "/" + found->rel + coded->suffix, &loaded_sibling, &ignored);
    if (sibling == nullptr) {
      coded = nullptr;
    } else {
      if (found->fd >= 0) {
        close(found->fd);
      }
      found = sibling;
    }
  }
  const FileInfo& info = *found;
  Headers h;
  h.reserve(8);
  if (has_siblings) {
    h.push_back({"vary", "Accept-Encoding"});
  }
  h.push_back({"etag", info.etag});
  h.push_back({"last-modified", info.last_mod});
  h.push_back({"accept-ranges", "bytes"});
  std::string_view inm = req.header("if-none-match");
  std::string_view ims = req.header("if-modified-since");
  bool not_modified = false;
  if (!inm.empty()) {
    not_modified = inm == "*" || inm.find(info.etag) != std::string_view::npos;
  } else if (!ims.empty()) {
    time_t t = parse_http_date(ims);
    not_modified = t >= 0 && info.mtime <= t;
  }
  auto done_with_fd = [&info] {
    if (info.fd >= 0) {
      close(info.fd);
    }
  };
  if (not_modified) {
    done_with_fd();
    res.respond(304, std::move(h), "");
    return;
  }
  h.push_back({"content-type", mime});
  if (coded != nullptr) {
    h.push_back({"content-encoding", coded->coding});
  }
  uint64_t from = 0, len = info.size;
  int code = 200;
  std::string_view range = req.header("range");
  std::string_view if_range = req.header("if-range");
  if (!range.empty() && (if_range.empty() || if_range == info.etag)) {
    int r = parse_range(range, info.size, &from, &len);
    if (r < 0) {
      done_with_fd();
      h.push_back({"content-range", "bytes */" + std::to_string(info.size)});
      res.respond(416, std::move(h), "");
      return;
    }
    if (r > 0) {
      code = 206;
      h.push_back({"content-range", "bytes " + std::to_string(from) + "-" +
                                        std::to_string(from + len - 1) + "/" +
                                        std::to_string(info.size)});
    }
  }
  if (info.body != nullptr) {
    res.respond(code, std::move(h), info.body->substr(from, len));
    return;
  }
  h.push_back({"content-length", std::to_string(len)});
  res.respond_with_source(code, std::move(h), std::make_unique<net::FileBody>(info.fd, from, len));
}

}  // namespace

double accepted_q(std::string_view accept_encoding, std::string_view coding) {
  std::optional<double> named, any;
  size_t pos = 0;
  while (pos <= accept_encoding.size()) {
    size_t end = std::min(accept_encoding.find(',', pos), accept_encoding.size());
    std::string_view entry = accept_encoding.substr(pos, end - pos);
    pos = end + 1;
    size_t semi = entry.find(';');
    std::string name = ascii_lowered(trim_ows(entry.substr(0, semi)));
    double q = 1;
    // The parameters after the coding: only q counts.
    while (semi != std::string_view::npos) {
      size_t next = entry.find(';', semi + 1);
      std::string_view param = trim_ows(entry.substr(semi + 1, next - std::min(next, semi + 1)));
      if (param.size() > 2 && (param[0] | 0x20) == 'q' && param[1] == '=') {
        q = strtod(std::string(param.substr(2)).c_str(), nullptr);
      }
      semi = next;
    }
    if (name == coding || (coding == "gzip" && name == "x-gzip")) {
      named = q;
    } else if (name == "*") {
      any = q;
    }
  }
  double q = named ? *named : any.value_or(0);
  return q > 0 ? std::min(q, 1.0) : 0;  // NaN, from "q=nan", is 0
}

const char* mime_type(std::string_view name) {
  size_t dot = name.rfind('.');
  size_t slash = name.rfind('/');
  if (dot == std::string_view::npos || (slash != std::string_view::npos && dot < slash)) {
    return "application/octet-stream";
  }
  std::string ext = ascii_lowered(name.substr(dot + 1));
  for (const Mime& m : kMimes) {
    if (m.ext == ext) {
      return m.type;
    }
  }
  return "application/octet-stream";
}

Handler make_static_handler(const StaticOptions& opts, std::string* error) {
  char real[PATH_MAX];
  struct stat st;
  if (realpath(opts.root.c_str(), real) == nullptr || stat(real, &st) != 0 ||
      !S_ISDIR(st.st_mode)) {
    *error = "not a directory: " + opts.root;
    return {};
  }
  auto sr = std::make_shared<StaticRoot>();
  sr->root = real;
  if (sr->root == "/") {
    sr->root.clear();
  }
  sr->opts = opts;
  sr->id = ++g_root_ids;
  sr->root_fd = open(real, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (sr->root_fd < 0) {
    *error = "cannot open " + opts.root;
    return {};
  }
  return [sr](Request& req, Responder res) { serve(*sr, req, std::move(res)); };
}

}  // namespace valk

// FileBody (src/net/file_body.h): a file range read into scattered spans,
// small reads served from one read ahead, large ones straight from the
// file, and a file that shrinks while it is being sent.
#include "net/file_body.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

namespace valk::net {
namespace {

class FileBodyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/valk-file-body-XXXXXX";
    int fd = mkstemp(tmpl);
    ASSERT_GE(fd, 0);
    path_ = tmpl;
    data_.resize(300000);
    for (size_t i = 0; i < data_.size(); ++i) {
      data_[i] = static_cast<char>(i * 13 + i / 251);
    }
    ASSERT_EQ(write(fd, data_.data(), data_.size()), static_cast<ssize_t>(data_.size()));
    close(fd);
  }
  void TearDown() override { unlink(path_.c_str()); }

  std::unique_ptr<FileBody> open_range(uint64_t from, uint64_t len) {
    return std::make_unique<FileBody>(open(path_.c_str(), O_RDONLY | O_CLOEXEC), from, len);
  }

  // Reads the whole range in pieces of `piece` bytes, each split over two
  // spans of unequal size.
  std::string read_all(FileBody& f, size_t piece) {
    std::string out;
    while (f.remaining() > 0) {
      size_t n = std::min<uint64_t>(piece, f.remaining());
      std::vector<char> a(n / 3), b(n - n / 3);
      iovec spans[2] = {{a.data(), a.size()}, {b.data(), b.size()}};
      if (!f.read_into(spans, 2)) {
        return out + "<error>";
      }
      out.append(a.begin(), a.end());
      out.append(b.begin(), b.end());
    }
    return out;
  }

  std::string path_, data_;
};

TEST_F(FileBodyTest, SmallReadsComeFromTheReadAhead) {
  auto f = open_range(1000, 200000);
  EXPECT_EQ(read_all(*f, 16384), data_.substr(1000, 200000));
  EXPECT_EQ(f->remaining(), 0u);
}

TEST_F(FileBodyTest, LargeReadsGoStraightIntoTheSpans) {
  auto f = open_range(7, data_.size() - 7);
  EXPECT_EQ(read_all(*f, 65536), data_.substr(7));
}

TEST_F(FileBodyTest, MixedSizesThroughTheGenericRead) {
  auto f = open_range(0, data_.size());
  std::string out;
  std::vector<uint8_t> buf(70000);
  bool eof = false;
  for (int i = 0; !eof; ++i) {
    // A small read starts a read ahead that the large one drains first.
    int64_t n = f->read(std::span<uint8_t>(buf.data(), i % 2 == 0 ? 5000 : buf.size()), &eof);
    ASSERT_GT(n, 0);
    out.append(reinterpret_cast<char*>(buf.data()), static_cast<size_t>(n));
  }
  EXPECT_EQ(out, data_);
}

TEST_F(FileBodyTest, AFileThatShrinksIsAnError) {
  auto f = open_range(0, data_.size());
  ASSERT_EQ(truncate(path_.c_str(), 100000), 0);
  EXPECT_EQ(read_all(*f, 65536).substr(0, 65536), data_.substr(0, 65536));
  auto g = open_range(0, data_.size());
  std::string small = read_all(*g, 16384);
  EXPECT_EQ(small.substr(small.size() - 7), "<error>");
  EXPECT_LT(small.size(), 110000u);
}

// take() hands out the read ahead in place with writable room in front:
// pieces that do not divide the read ahead straddle its refills, and what
// the caller writes into the room never spoils bytes not handed out yet.
TEST_F(FileBodyTest, TakeHandsOutTheReadAheadInPlace) {
  for (size_t piece : {size_t{16375}, size_t{1000}, size_t{40000}, FileBody::kReadAhead}) {
    SCOPED_TRACE(piece);
    auto f = open_range(3, data_.size() - 3);
    std::string out;
    while (f->remaining() > 0) {
      size_t n = std::min<uint64_t>(piece, f->remaining());
      uint8_t* p = f->take(n, 9);
      ASSERT_NE(p, nullptr);
      memset(p - 9, 'h', 9);  // an h2 frame header, say
      out.append(reinterpret_cast<char*>(p), n);
    }
    EXPECT_TRUE(out == data_.substr(3)) << out.size();
  }
}

TEST_F(FileBodyTest, TakeRefusesWhatItCannotHold) {
  auto f = open_range(0, data_.size());
  EXPECT_EQ(f->take(FileBody::kReadAhead + 1, 0), nullptr);
  EXPECT_EQ(f->take(100, FileBody::kHeadroom + 1), nullptr);
  // Small reads and takes mix: each goes on where the other stopped.
  std::vector<char> a(5000);
  iovec span{a.data(), a.size()};
  ASSERT_TRUE(f->read_into(&span, 1));
  uint8_t* p = f->take(70, FileBody::kHeadroom);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(p), 70), data_.substr(5000, 70));
  // The file loses its tail: a take past the new end fails.
  ASSERT_EQ(truncate(path_.c_str(), 100000), 0);
  EXPECT_NE(f->take(60000, 0), nullptr);  // still in the read ahead
  EXPECT_EQ(f->take(60000, 0), nullptr);
}

}  // namespace
}  // namespace valk::net

// DirectFileWriter (client/receive_writer.h): whatever the offset and the chunking, the
// file holds exactly the bytes given, in order; whole aligned blocks go out with O_DIRECT
// where the file system takes it; the descriptor is left without O_DIRECT.
#include "client/receive_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "daemon/unique_fd.h"
#include <doctest/doctest.h>

namespace curvecp::push {
namespace {

std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  uint32_t x = seed * 2654435761u + 1;
  for (auto& b : v) {
    x = x * 1664525u + 1013904223u;
    b = static_cast<uint8_t>(x >> 24);
  }
  return v;
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::vector<uint8_t> out;
  UniqueFd fd(::open(path.c_str(), O_RDONLY));
  uint8_t buf[65536];
  for (ssize_t r; fd.valid() && (r = ::read(fd.get(), buf, sizeof buf)) > 0;) out.insert(out.end(), buf, buf + r);
  return out;
}

struct TempDir {
  std::string path;
  TempDir() {
    char templ[] = "/var/tmp/push-writer-XXXXXX";  // a disk file system, as DIR would be
    REQUIRE(::mkdtemp(templ) != nullptr);
    path = templ;
  }
  ~TempDir() { (void)std::system(("rm -rf '" + path + "'").c_str()); }
};

// Writes `head` plainly, then `body` through a writer from head.size() in `chunk`-byte pieces.
bool write_through(const std::string& path, const std::vector<uint8_t>& head, const std::vector<uint8_t>& body,
                   size_t chunk) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600));
  REQUIRE(fd.valid());
  REQUIRE(::write(fd.get(), head.data(), head.size()) == static_cast<ssize_t>(head.size()));
  DirectFileWriter writer(fd.get(), head.size());
  for (size_t at = 0; at < body.size(); at += chunk) {
    const size_t n = std::min(chunk, body.size() - at);
    REQUIRE(writer.write(Bytes(body.data() + at, n)) == "");
  }
  REQUIRE(writer.finish() == "");
  CHECK(writer.position() == head.size() + body.size());
  CHECK((::fcntl(fd.get(), F_GETFL) & O_DIRECT) == 0);
  return writer.used_direct();
}

bool direct_supported(const std::string& dir) {
  UniqueFd fd(::open((dir + "/probe").c_str(), O_WRONLY | O_CREAT | O_DIRECT, 0600));
  return fd.valid();
}

TEST_CASE("the file holds exactly the bytes given, from any offset, in any chunking") {
  TempDir dir;
  const std::string path = dir.path + "/f";
  const size_t block = DirectFileWriter::kBlockBytes;
  const size_t heads[] = {0, 1, 1000, 4096, 4097};
  const size_t bodies[] = {0, 1, 4095, block - 1, block, block + 1, 3 * block + 123};
  const size_t chunks[] = {1 << 18, 5000, block + 7};
  uint32_t seed = 1;
  for (size_t h : heads) {
    for (size_t b : bodies) {
      for (size_t c : chunks) {
        CAPTURE(h);
        CAPTURE(b);
        CAPTURE(c);
        const auto head = pattern(h, seed++);
        const auto body = pattern(b, seed++);
        write_through(path, head, body, c);
        auto expect = head;
        expect.insert(expect.end(), body.begin(), body.end());
        CHECK(read_file(path) == expect);
      }
    }
  }
}

TEST_CASE("whole aligned blocks go out with O_DIRECT where the file system takes it") {
  TempDir dir;
  const auto body = pattern(4 * DirectFileWriter::kBlockBytes + 10, 7);
  const bool used = write_through(dir.path + "/big", pattern(123, 8), body, 1 << 18);
  if (direct_supported(dir.path)) {
    CHECK(used);
  } else {
    MESSAGE("O_DIRECT is refused under " << dir.path << ": plain writes were checked");
    CHECK_FALSE(used);
  }
  // Too short for a whole block: nothing goes out directly.
  CHECK_FALSE(write_through(dir.path + "/small", {}, pattern(DirectFileWriter::kBlockBytes - 1, 9), 4096));
}

}  // namespace
}  // namespace curvecp::push

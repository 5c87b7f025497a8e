#include "roles/media_files.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <utility>

#include "core/text.h"

namespace hm {

namespace {

struct Sha256 {
  Sha256() : ctx(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr); }
  void update(const char* data, std::size_t n) { EVP_DigestUpdate(ctx.get(), data, n); }
  std::string hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx.get(), digest, &len);
    return hex_encode(digest, len);
  }
  struct Free {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  std::unique_ptr<EVP_MD_CTX, Free> ctx;
};

// An open file descriptor, closed on scope exit.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

bool fsync_dir(const std::string& dir) {
  Fd d{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  return d.fd >= 0 && ::fsync(d.fd) == 0;
}

}  // namespace

struct MediaFiles::Writer::Hash : Sha256 {};

Status MediaFiles::prepare() const {
  const std::string tmp_dir = dir_ + "/.tmp";
  std::error_code ec;
  std::filesystem::create_directories(tmp_dir, ec);
  if (ec) return Status::Retryable("MEDIA_DIR: cannot create " + tmp_dir + ": " + ec.message());
  return Status::Ok();
}

Result<MediaFiles::Writer> MediaFiles::begin() const {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char name[32];
  std::snprintf(name, sizeof name, "%016llx", static_cast<unsigned long long>(rng()));
  Writer w;
  w.dir_ = dir_;
  w.tmp_ = dir_ + "/.tmp/" + name;
  w.fd_ = ::open(w.tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  if (w.fd_ < 0) return Result<Writer>::Failed(Status::Retryable("MEDIA_DIR: cannot create " + w.tmp_ + ": " +
                                                                 std::strerror(errno)));
  w.hash_ = std::make_unique<Writer::Hash>();
  return Result<Writer>::Of(std::move(w));
}

MediaFiles::Writer::Writer() = default;
MediaFiles::Writer::Writer(Writer&& other) noexcept
    : dir_(std::move(other.dir_)), tmp_(std::move(other.tmp_)), fd_(std::exchange(other.fd_, -1)),
      hash_(std::move(other.hash_)), error_(std::move(other.error_)) {}

MediaFiles::Writer& MediaFiles::Writer::operator=(Writer&& other) noexcept {
  if (this != &other) {
    discard();
    dir_ = std::move(other.dir_);
    tmp_ = std::move(other.tmp_);
    fd_ = std::exchange(other.fd_, -1);
    hash_ = std::move(other.hash_);
    error_ = std::move(other.error_);
  }
  return *this;
}

MediaFiles::Writer::~Writer() { discard(); }

void MediaFiles::Writer::discard() {
  if (fd_ < 0) return;
  ::close(fd_);
  fd_ = -1;
  ::unlink(tmp_.c_str());
}

bool MediaFiles::Writer::append(const char* data, std::size_t n) {
  hash_->update(data, n);
  std::size_t written = 0;
  while (written < n) {
    const ssize_t w = ::write(fd_, data + written, n - written);
    if (w <= 0) {
      error_ = Status::Retryable("MEDIA_DIR: cannot write " + tmp_ + ": " + std::strerror(errno));
      return false;
    }
    written += static_cast<std::size_t>(w);
  }
  return true;
}

Result<std::string> MediaFiles::Writer::commit() {
  auto failed = [this](std::string why) {
    discard();
    return Result<std::string>::Failed(Status::Retryable(std::move(why)));
  };
  std::string sha = hash_->hex();
  const std::string dir = dir_ + "/" + sha.substr(0, 2);
  const std::string final_path = dir + "/" + sha;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (::fsync(fd_) != 0 || ec) return failed("MEDIA_DIR: cannot store " + final_path);
  if (std::filesystem::exists(final_path)) {
    discard();  // the same bytes are stored already
    return Result<std::string>::Of(std::move(sha));
  }
  if (::rename(tmp_.c_str(), final_path.c_str()) != 0 || !fsync_dir(dir))
    return failed("MEDIA_DIR: cannot rename into " + final_path + ": " + std::strerror(errno));
  ::close(fd_);
  fd_ = -1;  // renamed: nothing left to remove
  return Result<std::string>::Of(std::move(sha));
}

std::string sha256_hex_of_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  Sha256 h;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) h.update(buf, static_cast<std::size_t>(in.gcount()));
  return h.hex();
}

}  // namespace hm

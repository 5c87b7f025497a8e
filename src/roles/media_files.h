#pragma once
// A content-addressed file store: each file lives under
// dir/<first two hex digits of its SHA-256>/<sha256>. A file is written to a
// fresh temporary name under dir/.tmp, fsync'ed and renamed into place (and
// its directory fsync'ed): a crash never leaves a partial file under a final
// name, and the same bytes stored twice are one file.
// Thread-safe: every Writer has a temporary file of its own. A Writer itself
// is used by one thread at a time.

#include <cstddef>
#include <memory>
#include <string>

#include "hm/status.h"

namespace hm {

class MediaFiles {
 public:
  class Writer;

  explicit MediaFiles(std::string dir) : dir_(std::move(dir)) {}

  // Creates dir/.tmp if missing. Retryable with "MEDIA_DIR: cannot create
  // <dir>/.tmp: <why>" when it cannot.
  Status prepare() const;
  // A new temporary file to write one file's bytes into (prepare() first).
  Result<Writer> begin() const;

  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

// One file being written. Dropped (the temporary file removed) unless
// commit() succeeded: by discard() or the destructor.
class MediaFiles::Writer {
 public:
  Writer();
  Writer(Writer&& other) noexcept;
  Writer& operator=(Writer&& other) noexcept;
  ~Writer();

  // Writes and hashes the next bytes; false when the disk refused them (the
  // reason is in error()).
  bool append(const char* data, std::size_t size);
  // Ok, or Retryable "MEDIA_DIR: cannot write <tmp>: <why>" after a refused append().
  const Status& error() const { return error_; }
  // fsyncs the file and renames it to its content address (dropping it when
  // the same bytes are stored already); returns the hex SHA-256. Retryable
  // "MEDIA_DIR: ..." on failure, after which the temporary file is gone.
  Result<std::string> commit();
  // Removes the temporary file.
  void discard();

 private:
  friend class MediaFiles;
  struct Hash;
  std::string dir_;
  std::string tmp_;
  int fd_ = -1;
  std::unique_ptr<Hash> hash_;
  Status error_;
};

// Hex SHA-256 of a file's bytes, streamed; for tests and tools.
std::string sha256_hex_of_file(const std::string& path);

}  // namespace hm

// The receiving half of the push conversation (receive_session.h).
//
// Durability: a verified large file (1 MiB or more) is fdatasync()ed and renamed at once;
// small ones are renamed in batches: the batch's data is synced with one syncfs() first,
// then each file is renamed. Each directory that got a new name is then fsynced. A crash
// before the rename leaves the complete temporary file, which the next push continues (it
// is a "partial" as long as the file). A large file's bytes go to the disk with O_DIRECT
// (receive_writer.h), not through the page cache.
#include "client/receive_session.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <set>

#include "client/command_output.h"
#include "client/receive_fs.h"
#include "client/receive_writer.h"
#include "daemon/command_registry.h"

namespace curvecp::push {
namespace {

constexpr size_t kBatchFiles = 1000;
constexpr uint64_t kBatchBytes = 256ull << 20;
constexpr uint64_t kFlushBeforeBytes = 1ull << 20;
// Writeback of a large file is started every this many bytes (start_writeback).
constexpr uint64_t kWritebackBytes = 8ull << 20;
constexpr unsigned kDrainLimitSeconds = 60;
// The list is held in memory (a few hundred bytes an entry at most): a bound on what one
// sender can make us allocate.
constexpr size_t kMaxEntries = size_t{1} << 22;

std::string errno_text() { return std::strerror(errno); }

struct timespec_pair {
  struct timespec t[2];
};

timespec_pair times_of(const Entry& e) {
  timespec_pair p;
  p.t[0].tv_sec = e.mtime_s;  // access time: the same as the modification time
  p.t[0].tv_nsec = e.mtime_ns;
  p.t[1] = p.t[0];
  return p;
}

// A file while its bytes arrive: the temporary file (locked), the hash so far.
struct IncomingFile {
  uint32_t index;
  uint64_t length;  // bytes in the temporary file
  UniqueFd fd;
  Blake2b hash;
  std::string error;  // set once anything failed; the rest of the file is dropped
  uint64_t written_back = 0;  // bytes of the file (from offset 0) handed to writeback
  // Large files: O_DIRECT writes (receive_writer.h); declared after `fd`, so it goes first.
  std::unique_ptr<DirectFileWriter> writer;
};

// A verified file waiting for its rename.
struct PendingRename {
  uint32_t index;
  std::string parent;
  std::string temp;
  std::string name;
};

class Receiver {
 public:
  Receiver(FrameChannel& channel, UniqueFd dir) : ch_(channel), top_(std::move(dir)) {}
  int run();

 private:
  Status conversation();
  Status handshake();
  Status read_list();
  Reply reply_for(uint32_t index);
  Reply reply_for_directory(uint32_t index, int parent);
  Reply reply_for_symlink(uint32_t index, int parent);
  Reply reply_for_file(uint32_t index, int parent);
  Status data_phase();
  Status receive_file(const FileBegin& begin);
  Status read_file_frames(IncomingFile& file);
  void commit_file(IncomingFile& file);
  Result<UniqueFd> open_temp(uint32_t index, uint64_t offset, Blake2b& hash);
  void flush_renames();
  void rename_into_place(const PendingRename& p);
  void sync_directories();
  void finish_directories();
  Result<int> parent_fd(std::string_view parent_path);
  void fail(uint32_t index, const std::string& why);
  Reply refuse(uint32_t index, const std::string& why);
  Status fatal(const std::string& why);

  FrameChannel& ch_;
  UniqueFd top_;   // DIR
  UniqueFd base_;  // DIR or DIR/SUBDIR
  std::vector<Entry> entries_;
  std::vector<Reply> replies_;
  std::vector<bool> received_;
  std::map<uint32_t, Blake2b> partial_hashes_;  // hash of a partial file's prefix
  std::vector<PendingRename> pending_;
  uint64_t pending_bytes_ = 0;
  std::set<std::string> synced_dirs_;
  std::vector<FileResult> failures_;
  Summary summary_;
  std::string cached_parent_ = "\x01";  // no path equals this
  UniqueFd cached_parent_fd_;
  std::vector<uint8_t> write_buffer_;
};

void Receiver::fail(uint32_t index, const std::string& why) {
  print_command_error("receive", "" + entries_[index].path + ": " + why);
  failures_.push_back(FileResult{index, false, why});
}

Reply Receiver::refuse(uint32_t index, const std::string& why) {
  print_command_error("receive", "" + entries_[index].path + ": " + why);
  ++summary_.failures;
  Reply r;
  r.index = index;
  r.state = ReplyState::refused;
  r.message = why;
  return r;
}

Status Receiver::fatal(const std::string& why) {
  // The sender must learn why: the Error frame goes out and our direction ends cleanly
  // (a failed connection could drop it), then we wait, a bounded time, for the sender to
  // end its direction. Only then does this program exit non-zero.
  encode_error(ch_.out(), why);
  if (ch_.flush()) {
    ch_.close_write();
    ::alarm(kDrainLimitSeconds);  // SIGALRM ends a sender that never lets go
    ch_.discard_until_eof();
    ::alarm(0);
  }
  return make_error(why);
}

int Receiver::run() {
  if (Status s = conversation(); !s) {
    print_command_error("receive", "" + s.error().message);
    return kExitTemporary;
  }
  const bool ok = summary_.failures == 0;
  std::fprintf(stderr, "curvecp receive: %llu files written, %llu skipped, %llu bytes received, %u failed\n",
               static_cast<unsigned long long>(summary_.files_written),
               static_cast<unsigned long long>(summary_.files_skipped),
               static_cast<unsigned long long>(summary_.bytes_received), summary_.failures);
  return ok ? 0 : kExitTemporary;
}

Status Receiver::conversation() {
  if (Status s = handshake(); !s) return s;
  if (Status s = read_list(); !s) return s;
  for (uint32_t i = 0; i < entries_.size(); ++i) {
    replies_.push_back(reply_for(i));
    encode_reply(ch_.out(), replies_.back());
    if (Status s = ch_.maybe_flush(); !s) return s;
  }
  if (Status s = ch_.flush(); !s) return s;
  if (Status s = data_phase(); !s) return s;
  flush_renames();
  finish_directories();
  for (uint32_t i = 0; i < entries_.size(); ++i) {
    const bool offered = replies_[i].state == ReplyState::have;
    if (offered && !received_[i]) ++summary_.files_skipped;
  }
  summary_.failures += static_cast<uint32_t>(failures_.size());
  for (const FileResult& r : failures_) encode_result(ch_.out(), r);
  encode_summary(ch_.out(), summary_);
  if (Status s = ch_.flush(); !s) return s;
  ch_.close_write();
  return ch_.expect_eof();
}

Status Receiver::handshake() {
  auto frame = ch_.receive();
  if (!frame) return frame.error();
  if (frame->type != FrameType::hello) return fatal("not a curvecp push peer (no Hello)");
  auto hello = parse_hello(frame->payload);
  if (!hello) return fatal(hello.error().message);
  if (hello->version != kVersion) {
    return fatal("push protocol version " + std::to_string(hello->version) + " is not spoken here (only " +
                 std::to_string(kVersion) + ")");
  }
  auto base = open_dir_below(top_.get(), hello->subdir, /*create=*/true);
  if (!base) return fatal("--to " + hello->subdir + ": " + base.error().message);
  base_ = std::move(*base);
  encode_hello(ch_.out(), Hello{kVersion, ""});
  return ch_.flush();
}

Status Receiver::read_list() {
  for (;;) {
    auto frame = ch_.receive();
    if (!frame) return frame.error();
    if (frame->type == FrameType::list_end) {
      auto count = parse_list_end(frame->payload);
      if (!count) return fatal(count.error().message);
      if (*count != entries_.size()) return fatal("the list of entries is incomplete");
      received_.assign(entries_.size(), false);
      return {};
    }
    if (frame->type != FrameType::entry) return fatal("unexpected frame in the list of entries");
    auto entry = parse_entry(frame->payload);
    if (!entry) return fatal(entry.error().message);
    if (entries_.size() >= kMaxEntries) return fatal("more than " + std::to_string(kMaxEntries) + " entries in one push");
    entries_.push_back(std::move(*entry));
  }
}

Result<int> Receiver::parent_fd(std::string_view parent_path) {
  if (parent_path != cached_parent_) {
    cached_parent_fd_.reset();
    cached_parent_ = "\x01";
    auto fd = open_dir_below(base_.get(), parent_path, /*create=*/false);
    if (!fd) return fd.error();
    cached_parent_fd_ = std::move(*fd);
    cached_parent_ = std::string(parent_path);
  }
  return cached_parent_fd_.get();
}

Reply Receiver::reply_for(uint32_t index) {
  const Entry& e = entries_[index];
  auto parent = parent_fd(split_parent(e.path).first);
  if (!parent) return refuse(index, parent.error().message);
  switch (e.kind) {
    case EntryKind::directory: return reply_for_directory(index, *parent);
    case EntryKind::symlink: return reply_for_symlink(index, *parent);
    case EntryKind::file: return reply_for_file(index, *parent);
  }
  return refuse(index, "unknown kind");
}

Reply Receiver::reply_for_directory(uint32_t index, int parent) {
  const std::string name(split_parent(entries_[index].path).second);
  if (::mkdirat(parent, name.c_str(), 0700) != 0 && errno != EEXIST) {
    return refuse(index, "cannot make the directory: " + errno_text());
  }
  UniqueFd dir(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir.valid()) return refuse(index, "exists on the receiver and is not a directory (or is a symlink): refused");
  // Writable by us while the push runs; the sender's mode is applied at the end.
  struct stat st;
  if (::fstat(dir.get(), &st) == 0 && (st.st_mode & 0700) != 0700) (void)::fchmod(dir.get(), (st.st_mode & 07777) | 0700);
  Reply r;
  r.index = index;
  r.state = ReplyState::done;
  return r;
}

Reply Receiver::reply_for_symlink(uint32_t index, int parent) {
  const Entry& e = entries_[index];
  if (Status s = check_link_target(e.path, e.link_target); !s) return refuse(index, s.error().message);
  const std::string name(split_parent(e.path).second);
  const std::string temp = temp_name_for(name);
  (void)::unlinkat(parent, temp.c_str(), 0);
  if (::symlinkat(e.link_target.c_str(), parent, temp.c_str()) != 0) return refuse(index, "cannot make the symlink: " + errno_text());
  timespec_pair t = times_of(e);
  (void)::utimensat(parent, temp.c_str(), t.t, AT_SYMLINK_NOFOLLOW);
  if (::renameat(parent, temp.c_str(), parent, name.c_str()) != 0) {
    const std::string why = errno_text();
    (void)::unlinkat(parent, temp.c_str(), 0);
    return refuse(index, "cannot put the symlink in place: " + why);
  }
  synced_dirs_.insert(std::string(split_parent(e.path).first));
  Reply r;
  r.index = index;
  r.state = ReplyState::done;
  return r;
}

// Hashes the whole of `fd` from its start: false on a read error.
bool hash_whole(int fd, uint64_t n, Blake2b& hash, std::vector<uint8_t>& buffer) {
  buffer.resize(kMaxData);
  while (n > 0) {
    ssize_t r = ::read(fd, buffer.data(), static_cast<size_t>(std::min<uint64_t>(n, buffer.size())));
    if (r <= 0) return false;
    hash.update(Bytes(buffer.data(), static_cast<size_t>(r)));
    n -= static_cast<uint64_t>(r);
  }
  return true;
}

Reply Receiver::reply_for_file(uint32_t index, int parent) {
  const Entry& e = entries_[index];
  const std::string name(split_parent(e.path).second);
  Reply r;
  r.index = index;
  r.state = ReplyState::want;
  struct stat st;
  if (::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
      static_cast<uint64_t>(st.st_size) == e.size && st.st_mtim.tv_sec == e.mtime_s &&
      static_cast<uint32_t>(st.st_mtim.tv_nsec) == e.mtime_ns && (st.st_mode & 07777) == e.mode) {
    // The same size, time and mode: offer it; the sender compares the hashes.
    UniqueFd fd(::openat(parent, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    Blake2b h;
    if (fd.valid() && hash_whole(fd.get(), e.size, h, write_buffer_)) {
      r.state = ReplyState::have;
      r.hash = h.digest();
      return r;
    }
  }
  const std::string temp = temp_name_for(name);
  if (::fstatat(parent, temp.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1 && st.st_size > 0 &&
      static_cast<uint64_t>(st.st_size) <= e.size) {
    // An earlier push stopped inside this file: offer to continue after what is there.
    UniqueFd fd(::openat(parent, temp.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    Blake2b h;
    if (fd.valid() && hash_whole(fd.get(), static_cast<uint64_t>(st.st_size), h, write_buffer_)) {
      r.offset = static_cast<uint64_t>(st.st_size);
      r.hash = h.digest();
      partial_hashes_.emplace(index, std::move(h));
    }
  }
  return r;
}

Status Receiver::data_phase() {
  for (;;) {
    auto frame = ch_.receive();
    if (!frame) return frame.error();
    if (frame->type == FrameType::done) {
      if (Status s = parse_done(frame->payload); !s) return fatal(s.error().message);
      return {};
    }
    if (frame->type == FrameType::error) {
      auto why = parse_error(frame->payload);
      return make_error("the sender stopped: " + (why ? *why : why.error().message));
    }
    if (frame->type != FrameType::file_begin) return fatal("unexpected frame between files");
    auto begin = parse_file_begin(frame->payload);
    if (!begin) return fatal(begin.error().message);
    if (Status s = receive_file(*begin); !s) return s;
  }
}

Result<UniqueFd> Receiver::open_temp(uint32_t index, uint64_t offset, Blake2b& hash) {
  const Entry& e = entries_[index];
  auto parent = parent_fd(split_parent(e.path).first);
  if (!parent) return parent.error();
  const std::string temp = temp_name_for(split_parent(e.path).second);
  UniqueFd fd(::openat(*parent, temp.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  struct stat st {};
  bool size_known = fd.valid() && ::fstat(fd.get(), &st) == 0;
  if (size_known && st.st_nlink > 1) {
    // A hard link to a file elsewhere: never write through it; start a file of our own.
    if (offset > 0) return make_error("the partial file has other hard links");
    (void)::unlinkat(*parent, temp.c_str(), 0);
    fd.reset(::openat(*parent, temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    st.st_size = 0;  // a new, empty file
  }
  if (!fd.valid()) return make_error("cannot write '" + temp + "': " + errno_text());
  // Two pushes of the same name at once would interleave their bytes.
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) return make_error("another push is writing this file now");
  if (offset > 0) {
    auto it = partial_hashes_.find(index);
    if (it == partial_hashes_.end()) return make_error("continued at an offset this receiver did not offer");
    hash = Blake2b(it->second);
  }
  // A file already `offset` long (a new one, for offset 0) is not truncated: on ext4 a
  // truncate to 0 marks the file for a flush of its own at close (auto_da_alloc), which
  // made every small file of a tree wait for a disk write (perf: close() and the disk
  // notification were the receiver's largest costs on a 10,000-file push).
  const bool truncate = !size_known || st.st_size != static_cast<off_t>(offset);
  if ((truncate && ::ftruncate(fd.get(), static_cast<off_t>(offset)) != 0) ||
      ::lseek(fd.get(), static_cast<off_t>(offset), SEEK_SET) < 0) {
    return make_error("cannot prepare '" + temp + "': " + errno_text());
  }
  return fd;
}

Status Receiver::receive_file(const FileBegin& begin) {
  const uint32_t i = begin.index;
  if (i >= entries_.size() || entries_[i].kind != EntryKind::file || received_[i] ||
      replies_[i].state == ReplyState::refused) {
    return fatal("data for an entry that was not asked for");
  }
  if (begin.offset != 0 && begin.offset != replies_[i].offset) return fatal("data at an offset that was not offered");
  received_[i] = true;
  const Entry& e = entries_[i];
  // Verified small files get their final names before a long transfer starts, so an
  // interruption of it does not leave them waiting.
  if (e.size - begin.offset >= kFlushBeforeBytes) flush_renames();
  IncomingFile file{i, begin.offset, UniqueFd{}, Blake2b{}, std::string{}, 0, nullptr};
  if (auto fd = open_temp(i, begin.offset, file.hash); fd) {
    file.fd = std::move(*fd);
    if (e.size - begin.offset >= kFlushBeforeBytes) file.writer = std::make_unique<DirectFileWriter>(file.fd.get(), begin.offset);
  } else {
    file.error = fd.error().message;
  }
  if (Status s = read_file_frames(file); !s) return s;
  commit_file(file);
  return {};
}

// Writes all of `bytes`; an error message, or empty.
std::string write_all(int fd, Bytes bytes) {
  const uint8_t* p = bytes.data();
  size_t n = bytes.size();
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return "write error: " + errno_text();
    p += w;
    n -= static_cast<size_t>(w);
  }
  return {};
}

// Large files: starts the disk writes of every complete kWritebackBytes while the rest
// still arrives (sync_file_range(SYNC_FILE_RANGE_WRITE) only queues them), so the final
// fdatasync() finds little left to do instead of stalling the end of a 1 GiB push for
// the whole file. Best effort: the fdatasync() still decides.
static void start_writeback(IncomingFile& file) {
  const uint64_t end = file.length;
  if (file.writer || !file.error.empty() || end - file.written_back < kWritebackBytes) return;
  (void)::sync_file_range(file.fd.get(), static_cast<off64_t>(file.written_back),
                          static_cast<off64_t>(end - file.written_back), SYNC_FILE_RANGE_WRITE);
  file.written_back = end;
}

Status Receiver::read_file_frames(IncomingFile& file) {
  const Entry& e = entries_[file.index];
  for (;;) {
    auto frame = ch_.receive_view();  // file data: no copy of the payload
    if (!frame) return frame.error();
    if (frame->type == FrameType::file_end) {
      auto want = parse_file_end(frame->payload);
      if (!want) return fatal(want.error().message);
      if (file.writer && file.error.empty()) file.error = file.writer->finish();
      if (file.error.empty() && file.length != e.size) {
        file.error = "arrived with " + std::to_string(file.length) + " of " + std::to_string(e.size) + " bytes";
      }
      if (file.error.empty() && file.hash.digest() != *want) {
        file.error = "BLAKE2b check failed: the bytes that arrived are not the sender's";
      }
      return {};
    }
    if (frame->type != FrameType::data) return fatal("unexpected frame inside a file");
    summary_.bytes_received += frame->payload.size();
    if (!file.error.empty()) continue;  // the rest of a failed file is read and dropped
    if (file.length + frame->payload.size() > e.size) {
      file.error = "more bytes than the file's size";
      continue;
    }
    file.hash.update(frame->payload);
    file.length += frame->payload.size();
    file.error = file.writer ? file.writer->write(frame->payload) : write_all(file.fd.get(), frame->payload);
    start_writeback(file);
  }
}


void Receiver::commit_file(IncomingFile& file) {
  const Entry& e = entries_[file.index];
  const auto [parent_path, name] = split_parent(e.path);
  if (file.error.empty()) {
    timespec_pair t = times_of(e);
    if (::fchmod(file.fd.get(), e.mode & 07777) != 0 || ::futimens(file.fd.get(), t.t) != 0) {
      file.error = "cannot set mode and time: " + errno_text();
    }
  }
  if (!file.error.empty()) {
    // Bad bytes are not worth continuing: the next push starts this file again. Only a
    // file we hold (and have locked) is removed, never another push's.
    if (file.fd.valid()) {
      if (auto parent = parent_fd(parent_path); parent) (void)::unlinkat(*parent, temp_name_for(name).c_str(), 0);
    }
    fail(file.index, file.error);
    return;
  }
  PendingRename rename{file.index, std::string(parent_path), temp_name_for(name), std::string(name)};
  if (e.size >= kFlushBeforeBytes) {
    // A large file is synced on its own: the cost is its own data, not the whole file
    // system's, which a syncfs() would also flush.
    if (::fdatasync(file.fd.get()) != 0) {
      fail(file.index, "cannot sync the data to disk: " + errno_text());
      return;
    }
    rename_into_place(rename);
    sync_directories();
    return;
  }
  pending_.push_back(std::move(rename));
  pending_bytes_ += e.size;
  if (pending_.size() >= kBatchFiles || pending_bytes_ >= kBatchBytes) flush_renames();
}

void Receiver::flush_renames() {
  if (pending_.empty()) return;
  // One sync for the whole batch's data, before any of it gets its final name.
  if (::syncfs(base_.get()) != 0) {
    for (const PendingRename& p : pending_) fail(p.index, "cannot sync the data to disk: " + errno_text());
    pending_.clear();
    return;
  }
  for (const PendingRename& p : pending_) rename_into_place(p);
  pending_.clear();
  pending_bytes_ = 0;
  sync_directories();
}

void Receiver::rename_into_place(const PendingRename& p) {
  auto parent = parent_fd(p.parent);
  if (!parent) {
    fail(p.index, parent.error().message);
    return;
  }
  if (::renameat(*parent, p.temp.c_str(), *parent, p.name.c_str()) != 0) {
    fail(p.index, "cannot put the file in place: " + errno_text());
    return;
  }
  ++summary_.files_written;
  synced_dirs_.insert(p.parent);
}

void Receiver::sync_directories() {
  for (const std::string& d : synced_dirs_) {
    if (auto fd = open_dir_below(base_.get(), d, false); fd) (void)::fsync(fd->get());
  }
  synced_dirs_.clear();
}

void Receiver::finish_directories() {
  // Deepest first, so that setting a directory's time is not undone by work inside it.
  for (size_t k = entries_.size(); k-- > 0;) {
    const Entry& e = entries_[k];
    if (e.kind != EntryKind::directory || replies_[k].state != ReplyState::done) continue;
    auto dir = open_dir_below(base_.get(), e.path, false);
    timespec_pair t = times_of(e);
    if (!dir || ::fchmod(dir->get(), e.mode & 07777) != 0 || ::futimens(dir->get(), t.t) != 0) {
      fail(static_cast<uint32_t>(k), "cannot set the directory's mode and time");
    }
  }
}

}  // namespace

int run_receive_session(FrameChannel& channel, UniqueFd dir) {
  Receiver receiver(channel, std::move(dir));
  return receiver.run();
}

}  // namespace curvecp::push

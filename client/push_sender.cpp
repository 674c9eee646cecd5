// The sending half of the push conversation (push_sender.h).
#include "client/push_sender.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <memory>

#include "daemon/unique_fd.h"

namespace curvecp::push {
namespace {

std::string errno_text() { return std::strerror(errno); }

// A file the receiver wants: from `offset`, with the hash of the bytes before it.
struct Plan {
  uint32_t index;
  uint64_t offset;
  std::unique_ptr<Blake2b> hash;
};

class Sender {
 public:
  Sender(FrameChannel& channel, const LocalTree& tree, Progress& progress, const std::function<Status()>& poll)
      : ch_(channel), tree_(tree), progress_(progress), poll_(poll) {}

  SenderOutcome run(const std::string& to) {
    if (Status s = conversation(to); !s) out_.fatal = s.error().message;
    return std::move(out_);
  }

 private:
  Status conversation(const std::string& to);
  Status send_list(const std::string& to);
  Status read_replies();
  void plan_file(uint32_t index, const Reply& reply);
  Status send_file(Plan& plan);
  Status read_results();
  // Reads `n` bytes of `fd` into `hash` from where it stands; false on a short read.
  bool hash_bytes(int fd, uint64_t n, Blake2b& hash);
  void fail(uint32_t index, const std::string& why) { out_.failures.push_back(tree_.entries[index].entry.path + ": " + why); }
  Result<Frame> receive_not_error();

  FrameChannel& ch_;
  const LocalTree& tree_;
  Progress& progress_;
  const std::function<Status()>& poll_;
  std::vector<Plan> plans_;
  std::vector<uint8_t> buffer_ = std::vector<uint8_t>(kMaxData);
  SenderOutcome out_;
};

Status Sender::conversation(const std::string& to) {
  if (Status s = send_list(to); !s) return s;
  if (Status s = read_replies(); !s) return s;
  uint64_t total = 0;
  for (const Plan& p : plans_) total += tree_.entries[p.index].entry.size - p.offset;
  progress_.set_total(plans_.size(), total);
  for (Plan& p : plans_) {
    if (Status s = send_file(p); !s) return s;
  }
  encode_done(ch_.out());
  if (Status s = ch_.flush(); !s) return s;
  progress_.clear();
  return read_results();
}

Status Sender::send_list(const std::string& to) {
  encode_hello(ch_.out(), Hello{kVersion, to});
  for (const LocalEntry& e : tree_.entries) encode_entry(ch_.out(), e.entry);
  encode_list_end(ch_.out(), static_cast<uint32_t>(tree_.entries.size()));
  return ch_.flush();
}

Result<Frame> Sender::receive_not_error() {
  auto frame = ch_.receive();
  if (!frame) return frame.error();
  if (frame->type == FrameType::error) {
    auto why = parse_error(frame->payload);
    return make_error("the receiver stopped: " + (why ? *why : why.error().message));
  }
  return frame;
}

Status Sender::read_replies() {
  auto hello_frame = receive_not_error();
  if (!hello_frame) return hello_frame.error();
  if (hello_frame->type != FrameType::hello) return make_error("the receiver did not answer with Hello");
  auto hello = parse_hello(hello_frame->payload);
  if (!hello) return hello.error();
  if (hello->version != kVersion) return make_error("the receiver speaks push protocol version " + std::to_string(hello->version));
  for (uint32_t i = 0; i < tree_.entries.size(); ++i) {
    auto frame = receive_not_error();
    if (!frame) return frame.error();
    if (frame->type != FrameType::reply) return make_error("the receiver sent something other than a Reply");
    auto reply = parse_reply(frame->payload);
    if (!reply) return reply.error();
    if (reply->index != i) return make_error("the receiver answered out of order");
    if (reply->state == ReplyState::refused) {
      fail(i, "refused by the receiver: " + reply->message);
    } else if (tree_.entries[i].entry.kind == EntryKind::file) {
      if (reply->state == ReplyState::done) return make_error("the receiver sent 'done' for a file");
      plan_file(i, *reply);
    }
    if (Status s = poll_(); !s) return s;
  }
  return {};
}

bool Sender::hash_bytes(int fd, uint64_t n, Blake2b& hash) {
  while (n > 0) {
    ssize_t r = ::read(fd, buffer_.data(), static_cast<size_t>(std::min<uint64_t>(n, buffer_.size())));
    if (r <= 0) return false;
    hash.update(Bytes(buffer_.data(), static_cast<size_t>(r)));
    n -= static_cast<uint64_t>(r);
  }
  return true;
}

// What to send of a file the receiver has (part of): skip a verified copy, continue a
// partial one whose prefix matches ours, start again otherwise.
void Sender::plan_file(uint32_t index, const Reply& reply) {
  const LocalEntry& e = tree_.entries[index];
  Plan plan{index, 0, std::make_unique<Blake2b>()};
  const bool compare = (reply.state == ReplyState::have) || (reply.offset > 0 && reply.offset <= e.entry.size);
  if (compare) {
    const uint64_t n = reply.state == ReplyState::have ? e.entry.size : reply.offset;
    UniqueFd fd(::open(e.local_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    auto prefix = std::make_unique<Blake2b>();
    if (fd.valid() && hash_bytes(fd.get(), n, *prefix) && prefix->digest() == reply.hash) {
      if (reply.state == ReplyState::have) {
        ++out_.files_skipped;
        return;
      }
      plan.offset = n;
      plan.hash = std::move(prefix);
    }
  }
  plans_.push_back(std::move(plan));
}

Status Sender::send_file(Plan& plan) {
  const LocalEntry& e = tree_.entries[plan.index];
  encode_file_begin(ch_.out(), FileBegin{plan.index, plan.offset});
  UniqueFd fd(::open(e.local_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  uint64_t left = e.entry.size - plan.offset;
  if (!fd.valid()) {
    fail(plan.index, "cannot open: " + errno_text());
    left = 0;
  } else if (plan.offset > 0 && ::lseek(fd.get(), static_cast<off_t>(plan.offset), SEEK_SET) < 0) {
    fail(plan.index, "cannot seek: " + errno_text());
    left = 0;
  }
  // A file that shrank or cannot be read ends short: the receiver's length check fails
  // it, and we report our side too.
  while (left > 0) {
    ssize_t r = ::read(fd.get(), buffer_.data(), static_cast<size_t>(std::min<uint64_t>(left, buffer_.size())));
    if (r <= 0) {
      fail(plan.index, r == 0 ? "the file shrank while it was sent" : "read error: " + errno_text());
      break;
    }
    const Bytes chunk(buffer_.data(), static_cast<size_t>(r));
    plan.hash->update(chunk);
    if (Status s = ch_.send_data(chunk); !s) return s;
    left -= chunk.size();
    out_.bytes_sent += chunk.size();
    progress_.add_bytes(chunk.size());
    if (Status s = poll_(); !s) return s;
    progress_.tick();
  }
  encode_file_end(ch_.out(), plan.hash->digest());
  ++out_.files_sent;
  progress_.file_done();
  return ch_.maybe_flush();
}

Status Sender::read_results() {
  for (;;) {
    auto frame = receive_not_error();
    if (!frame) return frame.error();
    if (frame->type == FrameType::result) {
      auto r = parse_result(frame->payload);
      if (!r) return r.error();
      if (r->index >= tree_.entries.size()) return make_error("the receiver reported on an entry we never sent");
      if (!r->ok) fail(r->index, r->message);
      continue;
    }
    if (frame->type != FrameType::summary) return make_error("the receiver sent something other than a Result");
    auto summary = parse_summary(frame->payload);
    if (!summary) return summary.error();
    out_.completed = true;
    if (summary->failures > 0 && out_.failures.empty()) {
      out_.failures.push_back("the receiver counted " + std::to_string(summary->failures) + " failures");
    }
    return {};
  }
}

}  // namespace

SenderOutcome run_push_sender(FrameChannel& channel, const LocalTree& tree, const std::string& to,
                              Progress& progress, const std::function<Status()>& poll) {
  Sender sender(channel, tree, progress, poll);
  return sender.run(to);
}

}  // namespace curvecp::push

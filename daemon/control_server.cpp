#include "daemon/control_server.h"

#include <dirent.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "daemon/control_protocol.h"
#include "daemon/unique_fd.h"
#include "daemon/uv_handle.h"

namespace curvecp {

namespace {

constexpr int kListenBacklog = 64;

// The directory of the default sockets (see default_serve_control_path).
std::string default_control_dir() {
  if (geteuid() == 0) return "/run/curvecp";
  const char* runtime = std::getenv("XDG_RUNTIME_DIR");
  if (runtime == nullptr || runtime[0] != '/') return {};
  return std::string(runtime) + "/curvecp";
}

std::string path_error(const std::string& path, const std::string& what) {
  return "control socket " + path + ": " + what;
}

// Makes the socket's directory (one level, mode 0700) when it does not exist yet.
Status ensure_directory(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return {};
  const std::string dir = path.substr(0, slash);
  struct stat st{};
  if (stat(dir.c_str(), &st) == 0) return {};
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return make_error(path_error(path, errno_text(("cannot create " + dir).c_str(), errno)));
  }
  return {};
}

// Whether a daemon accepts connections on the socket at `path`: true if one does; false
// if nobody does (a stale file); an error if that cannot be told.
Result<bool> someone_answers(const std::string& path) {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return make_error(path_error(path, errno_text("socket", errno)));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) return true;
  // A live listener with a full backlog refuses a non-blocking connect with EAGAIN.
  if (errno == EAGAIN || errno == EINPROGRESS) return true;
  if (errno == ECONNREFUSED || errno == ENOENT) return false;
  return make_error(path_error(path, errno_text("cannot check who listens", errno)));
}

// Clears the way for a new socket at `path`: removes a stale one, refuses a live one or
// anything that is not a socket.
Status clear_path(const std::string& path) {
  if (path.empty()) return make_error("control socket: empty path");
  if (path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    return make_error(path_error(path, "path too long for a unix socket (at most " +
                                           std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) + " bytes)"));
  }
  if (Status s = ensure_directory(path); !s) return s;
  struct stat st{};
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return make_error(path_error(path, errno_text("stat", errno)));
  }
  if (!S_ISSOCK(st.st_mode)) return make_error(path_error(path, "exists and is not a socket; not replacing it"));
  auto live = someone_answers(path);
  if (!live) return live.error();
  if (*live) {
    return make_error(path_error(path, "another daemon is answering there (stop it, or give another --control)"));
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return make_error(path_error(path, errno_text("cannot remove the stale socket", errno)));
  }
  return {};
}

struct WriteRequest {
  uv_write_t req{};
  std::string data;
};

}  // namespace

std::string default_serve_control_path() {
  const std::string dir = default_control_dir();
  return dir.empty() ? dir : dir + "/serve.sock";
}

std::string default_connect_control_path() {
  const std::string dir = default_control_dir();
  return dir.empty() ? dir : dir + "/connect." + std::to_string(getpid()) + ".sock";
}

void remove_stale_connect_sockets(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    constexpr std::string_view kPrefix = "connect.", kSuffix = ".sock";
    if (name.size() <= kPrefix.size() + kSuffix.size() || name.compare(0, kPrefix.size(), kPrefix) != 0 ||
        name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0) {
      continue;
    }
    const std::string digits = name.substr(kPrefix.size(), name.size() - kPrefix.size() - kSuffix.size());
    if (digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(digits));
    const std::string path = dir + "/" + name;
    struct stat st{};
    if (pid > 0 && kill(pid, 0) != 0 && errno == ESRCH && lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
      unlink(path.c_str());
    }
  }
  closedir(d);
}

struct ControlServer::Client {
  ControlServer* owner = nullptr;
  uv_pipe_t* pipe = nullptr;
  std::string in;             // received bytes not yet answered
  size_t writes_pending = 0;  // replies handed to libuv, not yet written
  bool reading = false;
  bool eof = false;
  bool close_after_write = false;
  Timestamp deadline;         // closed if no request was answered by then
};

ControlServer::ControlServer(EventLoop& loop, std::string path, Handler handler, Duration client_timeout)
    : loop_(loop), path_(std::move(path)), handler_(std::move(handler)), client_timeout_(client_timeout) {}

Result<std::unique_ptr<ControlServer>> ControlServer::open(EventLoop& loop, const std::string& path,
                                                           Handler handler, Duration client_timeout) {
  if (Status s = clear_path(path); !s) return s.error();
  std::unique_ptr<ControlServer> server(new ControlServer(loop, path, std::move(handler), client_timeout));
  ControlServer* self = server.get();
  auto timer = Timer::create(loop, [self](Timestamp now) { self->on_timer(now); });
  if (!timer) return timer.error();
  server->timer_ = std::move(*timer);
  if (Status s = server->listen(); !s) return s.error();
  return server;
}

// The socket is bound here and handed to libuv with uv_pipe_open, not uv_pipe_bind:
// libuv unlinks a bound pipe's path when it closes, whatever file is there by then,
// and we remove only our own (see ~ControlServer).
Status ControlServer::listen() {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return make_error(path_error(path_, errno_text("socket", errno)));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path_.data(), path_.size());
  // Owner-only from the start: bind() creates the file with the umask's mode.
  const mode_t old_umask = umask(0177);
  const int bound = bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  const int bind_errno = errno;
  umask(old_umask);
  if (bound != 0) return make_error(path_error(path_, errno_text("bind", bind_errno)));
  struct stat st{};
  if (chmod(path_.c_str(), 0600) != 0 || lstat(path_.c_str(), &st) != 0) {
    return make_error(path_error(path_, errno_text("chmod", errno)));
  }
  dev_ = st.st_dev;
  ino_ = st.st_ino;

  listener_ = new uv_pipe_t;
  if (int rc = uv_pipe_init(loop_.raw(), listener_, 0); rc < 0) {
    delete listener_;
    listener_ = nullptr;
    return make_error(path_error(path_, uv_error_text("uv_pipe_init", rc)));
  }
  listener_->data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(listener_));
  if (int rc = uv_pipe_open(listener_, fd.get()); rc < 0) return make_error(path_error(path_, uv_error_text("open", rc)));
  fd.release();  // the handle owns it now
  if (int rc = uv_listen(reinterpret_cast<uv_stream_t*>(listener_), kListenBacklog, on_connection); rc < 0) {
    return make_error(path_error(path_, uv_error_text("listen", rc)));
  }
  return {};
}

ControlServer::~ControlServer() {
  for (auto& c : clients_) close_and_free(reinterpret_cast<uv_handle_t*>(c->pipe));
  clients_.clear();
  close_and_free(reinterpret_cast<uv_handle_t*>(listener_));
  // Only our own file: another daemon may have replaced a socket it found stale.
  struct stat st{};
  if (ino_ != 0 && lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) unlink(path_.c_str());
}

// --- libuv callbacks: recover `this` (or the client) and call one method ---

void ControlServer::on_connection(uv_stream_t* server, int status) {
  auto* self = static_cast<ControlServer*>(server->data);
  if (self == nullptr || status < 0) return;
  self->accept();
}

void ControlServer::on_alloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
  auto* c = static_cast<Client*>(handle->data);
  if (c == nullptr) {
    *buf = uv_buf_init(nullptr, 0);  // closing: libuv reports UV_ENOBUFS, ignored
    return;
  }
  // One buffer for all clients: on_read consumes it before libuv reads again.
  *buf = uv_buf_init(c->owner->read_buffer_, sizeof c->owner->read_buffer_);
}

void ControlServer::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<Client*>(stream->data);
  if (c == nullptr) return;
  ControlServer* self = c->owner;
  self->received(*c, nread, buf, self->loop_.update_now());
  self->arm_timer();
}

void ControlServer::on_write(uv_write_t* req, int status) {
  auto* w = static_cast<WriteRequest*>(req->data);
  auto* c = static_cast<Client*>(req->handle->data);  // nullptr once the client is closed
  delete w;
  if (c == nullptr) return;
  ControlServer* self = c->owner;
  self->written(*c, status, self->loop_.update_now());
  self->arm_timer();
}

// --- clients ---

void ControlServer::accept() {
  const Timestamp now = loop_.update_now();
  auto* pipe = new uv_pipe_t;
  if (uv_pipe_init(loop_.raw(), pipe, 0) < 0) {
    delete pipe;
    return;
  }
  pipe->data = nullptr;
  uv_unref(reinterpret_cast<uv_handle_t*>(pipe));
  if (uv_accept(reinterpret_cast<uv_stream_t*>(listener_), reinterpret_cast<uv_stream_t*>(pipe)) < 0) {
    close_and_free(reinterpret_cast<uv_handle_t*>(pipe));
    return;
  }
  if (clients_.size() >= kMaxControlClients) {
    // Told at once, never queued: a crowd of clients cannot hold the daemon's memory.
    const std::string busy = format_error_reply("busy: too many control clients, try again") + "\n";
    uv_buf_t b = uv_buf_init(const_cast<char*>(busy.data()), static_cast<unsigned>(busy.size()));
    uv_try_write(reinterpret_cast<uv_stream_t*>(pipe), &b, 1);
    close_and_free(reinterpret_cast<uv_handle_t*>(pipe));
    return;
  }
  auto client = std::make_unique<Client>();
  client->owner = this;
  client->pipe = pipe;
  client->deadline = now + client_timeout_;
  pipe->data = client.get();
  clients_.push_back(std::move(client));
  serve(*clients_.back(), now);
  arm_timer();
}

void ControlServer::received(Client& c, ssize_t nread, const uv_buf_t* buf, Timestamp now) {
  if (nread == UV_EOF) {
    // The client finished sending (it may still read): answer what is complete, then close.
    c.eof = true;
    set_reading(c, false);
    if (c.writes_pending == 0) serve(c, now);
    return;
  }
  if (nread < 0) {
    close_client(c);
    return;
  }
  c.in.append(buf->base, static_cast<size_t>(nread));
  serve(c, now);
}

void ControlServer::written(Client& c, int status, Timestamp now) {
  --c.writes_pending;
  if (status < 0) {
    // The client vanished mid-reply (EPIPE, reset): only its own connection ends.
    close_client(c);
    return;
  }
  if (c.writes_pending > 0) return;
  if (c.close_after_write) {
    close_client(c);
    return;
  }
  c.deadline = now + client_timeout_;
  serve(c, now);
}

void ControlServer::serve(Client& c, Timestamp now) {
  while (c.writes_pending == 0) {
    const size_t newline = c.in.find('\n');
    if (newline == std::string::npos) {
      if (c.in.size() >= kMaxControlRequestBytes) {
        c.close_after_write = true;
        send(c, format_error_reply("request too long (at most " + std::to_string(kMaxControlRequestBytes) +
                                   " bytes with the newline)") +
                    "\n");
        return;
      }
      if (c.eof) {
        close_client(c);
        return;
      }
      set_reading(c, true);
      return;
    }
    const std::string line = c.in.substr(0, newline);
    c.in.erase(0, newline + 1);
    // answer_control_request refuses an over-long line itself; the handler sees them all.
    if (!send(c, handler_(line, now))) return;
  }
  // One reply at a time: nothing more is read until it is written.
  set_reading(c, false);
}

bool ControlServer::send(Client& c, std::string reply) {
  auto* w = new WriteRequest;
  w->data = std::move(reply);
  w->req.data = w;
  uv_buf_t b = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  if (uv_write(&w->req, reinterpret_cast<uv_stream_t*>(c.pipe), &b, 1, on_write) < 0) {
    delete w;
    close_client(c);
    return false;
  }
  ++c.writes_pending;
  set_reading(c, false);
  return true;
}

void ControlServer::set_reading(Client& c, bool on) {
  if (c.reading == on || (on && c.eof)) return;
  auto* stream = reinterpret_cast<uv_stream_t*>(c.pipe);
  if (on) {
    if (uv_read_start(stream, on_alloc, on_read) < 0) return;
  } else {
    uv_read_stop(stream);
  }
  c.reading = on;
}

void ControlServer::close_client(Client& c) {
  // Queued writes are cancelled by the close; their callbacks see no client and only free.
  close_and_free(reinterpret_cast<uv_handle_t*>(c.pipe));
  for (auto it = clients_.begin(); it != clients_.end(); ++it) {
    if (it->get() == &c) {
      clients_.erase(it);
      return;
    }
  }
}

// --- deadlines ---

void ControlServer::on_timer(Timestamp now) {
  // A client that has not completed a request, or not read its reply, in time.
  for (size_t i = 0; i < clients_.size();) {
    if (clients_[i]->deadline <= now) {
      close_client(*clients_[i]);
    } else {
      ++i;
    }
  }
  arm_timer();
}

void ControlServer::arm_timer() {
  Timestamp earliest_deadline = Timestamp::never();
  for (const auto& c : clients_) earliest_deadline = earliest(earliest_deadline, c->deadline);
  timer_->arm(earliest_deadline);
}

}  // namespace curvecp

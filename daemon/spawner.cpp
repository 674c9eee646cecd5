#include "daemon/spawner.h"

#include <signal.h>

#include <string>
#include <system_error>
#include <tuple>

#include "daemon/uv_handle.h"

namespace curvecp {

Result<std::unique_ptr<Spawner>> Spawner::create(EventLoop& loop) {
  std::unique_ptr<Spawner> s(new Spawner(loop));
  auto* handle = new uv_async_t{};
  if (int rc = uv_async_init(loop.raw(), handle, &Spawner::on_async); rc != 0) {
    delete handle;
    return make_error(uv_error_text("spawner wake-up", rc));
  }
  handle->data = s.get();
  uv_unref(reinterpret_cast<uv_handle_t*>(handle));
  s->async_ = handle;
  try {
    for (size_t i = 0; i < kThreads; ++i) s->threads_.emplace_back([p = s.get()] { p->run_thread(); });
  } catch (const std::system_error& e) {
    return make_error(std::string("spawner threads: ") + e.what());  // ~Spawner joins those started
  }
  return s;
}

Spawner::~Spawner() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    queued_.clear();
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
  for (const Job& j : finished_) {
    if (j.pid > 0) ::kill(-j.pid, SIGKILL);
  }
  if (async_ != nullptr) {
    async_->data = nullptr;
    close_and_free(reinterpret_cast<uv_handle_t*>(async_));
  }
}

void Spawner::submit(Work work, Done done) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queued_.push_back(Job{std::move(work), std::move(done)});
  }
  if (in_progress_++ == 0) uv_ref(reinterpret_cast<uv_handle_t*>(async_));  // a result is owed
  wake_.notify_one();
}

void Spawner::run_thread() {
  // Signals stay with the loop's thread (libuv's handlers, SIGCHLD).
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queued_.empty(); });
    if (stopping_) return;
    Job job = std::move(queued_.front());
    queued_.pop_front();
    lock.unlock();
    std::tie(job.pid, job.error) = job.work();
    job.work = nullptr;  // its captures (descriptors) go now, on this thread
    lock.lock();
    finished_.push_back(std::move(job));
    uv_async_send(async_);
  }
}

void Spawner::on_async(uv_async_t* handle) {
  auto* self = static_cast<Spawner*>(handle->data);
  if (self != nullptr) self->deliver();
}

void Spawner::deliver() {
  std::deque<Job> done;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    done.swap(finished_);
  }
  for (Job& j : done) {
    if (--in_progress_ == 0) uv_unref(reinterpret_cast<uv_handle_t*>(async_));
    if (j.done) j.done(j.pid, j.error);
  }
}

}  // namespace curvecp

#include "threaded_snapshot.h"

#include <pthread.h>

#include <memory>
#include <utility>

namespace synod::kv {

// Owned by itself: freed in its completion callback, which libuv calls on
// the loop once the worker is done (or the work was cancelled).
struct ThreadedSnapshot::Job {
  uv_work_t work;
  ThreadedSnapshot* owner;  // nullptr once stopped
  KvStore* store;
  KvStore::Frozen state;
  std::string image;
  Done done;
};

bool ThreadedSnapshot::start(Done done) {
  if (running() || store_.frozen()) return false;
  auto* job = new Job{};
  job->owner = this;
  job->store = &store_;
  job->state = store_.freeze();
  job->done = std::move(done);
  job->work.data = job;
  job_ = job;
  uv_queue_work(
      loop_, &job->work,
      // The worker: reads only the frozen items and the job's own copies.
      [](uv_work_t* w) {
        auto* j = static_cast<Job*>(w->data);
        // synod-kv queues nothing else on libuv's pool: the name lets
        // per-thread CPU (kv_bench --threads, top -H) show the snapshot's.
        pthread_setname_np(pthread_self(), "kv-snapshot");
        j->image = j->state.image();
      },
      [](uv_work_t* w, int status) {
        std::unique_ptr<Job> j(static_cast<Job*>(w->data));
        j->state.items.clear();
        j->store->thaw();
        if (!j->owner) return;
        j->owner->job_ = nullptr;
        if (status == 0) j->done(std::move(j->image));
      });
  return true;
}

void ThreadedSnapshot::stop() {
  if (!job_) return;
  job_->owner = nullptr;
  // Not yet taken by a worker: its completion comes with UV_ECANCELED.
  uv_cancel(reinterpret_cast<uv_req_t*>(&job_->work));
  job_ = nullptr;
}

}  // namespace synod::kv

// In-memory FileSystem with injected faults and simulated crashes. The model
// is deliberately simple (see the header): enough to show that the log never
// acknowledges what a crash can take away.
#include "synod/fault_file_system.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace synod {

struct FaultFileSystem::Inode {
  struct Op {
    enum class Kind : std::uint8_t { write, truncate, allocate };
    Kind kind;
    std::uint64_t offset_or_size;
    std::vector<std::byte> bytes;  // write only
  };
  std::vector<std::byte> data;     // what a reader sees now
  std::vector<std::byte> durable;  // what survives a crash
  // Invariant: applying these to `durable`, in order, gives `data`.
  std::vector<Op> unsynced;
};

namespace {

std::size_t op_index(FsOp op) { return static_cast<std::size_t>(op); }

const char* op_name(FsOp op) {
  static constexpr const char* kNames[kFsOpCount] = {
      "open", "read",   "write",  "sync_data", "truncate", "allocate",
      "list", "rename", "remove", "sync_dir",  "make_dir", "lock"};
  return kNames[op_index(op)];
}

IoStatus dead_handle(const std::string& path) {
  return IoStatus::failure(Status::storage_error,
                           fmt::format("{}: handle lost in a simulated crash", path));
}

void apply(std::vector<std::byte>& data, const FaultFileSystem::Inode::Op& op,
           std::size_t write_bytes) {
  using Kind = FaultFileSystem::Inode::Op::Kind;
  switch (op.kind) {
    case Kind::write: {
      std::size_t end = static_cast<std::size_t>(op.offset_or_size) + write_bytes;
      if (data.size() < end) data.resize(end);
      std::copy_n(op.bytes.begin(), write_bytes, data.begin() + op.offset_or_size);
      return;
    }
    case Kind::truncate:
      data.resize(static_cast<std::size_t>(op.offset_or_size));
      return;
    case Kind::allocate:
      if (data.size() < op.offset_or_size) data.resize(static_cast<std::size_t>(op.offset_or_size));
      return;
  }
}

}  // namespace

class FaultFile final : public File {
 public:
  FaultFile(FaultFileSystem* fs, std::shared_ptr<FaultFileSystem::Inode> inode, std::string path,
            std::uint64_t epoch)
      : fs_(fs), inode_(std::move(inode)), path_(std::move(path)), epoch_(epoch) {}

  IoStatus read_at(std::uint64_t offset, std::span<std::byte> out,
                   std::size_t* read_bytes) override {
    std::lock_guard lock(fs_->mutex_);
    if (IoStatus st = guard(FsOp::read); !st.ok()) return st;
    const auto& data = inode_->data;
    std::size_t n = offset >= data.size() ? 0 : std::min(out.size(), data.size() - offset);
    std::copy_n(data.begin() + static_cast<std::ptrdiff_t>(offset), n, out.begin());
    *read_bytes = n;
    return {};
  }

  IoStatus write_at(std::uint64_t offset, std::span<const std::byte> data,
                    std::size_t* written_bytes) override {
    std::lock_guard lock(fs_->mutex_);
    if (IoStatus st = guard(FsOp::write); !st.ok()) return st;
    std::size_t n = data.size();
    if (fs_->write_bytes_max_ != 0) n = std::min(n, fs_->write_bytes_max_);
    n = fit(offset, n);
    if (n == 0 && !data.empty()) return IoStatus::from_errno(ENOSPC, "pwrite", path_);
    FaultFileSystem::Inode::Op op{FaultFileSystem::Inode::Op::Kind::write,
                                  offset,
                                  {data.begin(), data.begin() + static_cast<std::ptrdiff_t>(n)}};
    apply(inode_->data, op, n);
    inode_->unsynced.push_back(std::move(op));
    *written_bytes = n;
    return {};
  }

  IoStatus sync_data() override {
    std::lock_guard lock(fs_->mutex_);
    if (IoStatus st = guard(FsOp::sync_data); !st.ok()) return st;
    inode_->durable = inode_->data;
    inode_->unsynced.clear();
    return {};
  }

  IoStatus truncate(std::uint64_t size_bytes) override {
    std::lock_guard lock(fs_->mutex_);
    if (IoStatus st = guard(FsOp::truncate); !st.ok()) return st;
    FaultFileSystem::Inode::Op op{FaultFileSystem::Inode::Op::Kind::truncate, size_bytes, {}};
    apply(inode_->data, op, 0);
    inode_->unsynced.push_back(std::move(op));
    return {};
  }

  IoStatus allocate(std::uint64_t size_bytes) override {
    std::lock_guard lock(fs_->mutex_);
    if (IoStatus st = guard(FsOp::allocate); !st.ok()) return st;
    std::uint64_t have = inode_->data.size();
    if (size_bytes > have && fs_->capacity_bytes_ != 0 &&
        fs_->used_bytes_locked() + (size_bytes - have) > fs_->capacity_bytes_)
      return IoStatus::from_errno(ENOSPC, "fallocate", path_);
    FaultFileSystem::Inode::Op op{FaultFileSystem::Inode::Op::Kind::allocate, size_bytes, {}};
    apply(inode_->data, op, 0);
    inode_->unsynced.push_back(std::move(op));
    return {};
  }

  IoStatus size(std::uint64_t* size_bytes) override {
    std::lock_guard lock(fs_->mutex_);
    if (fs_->epoch_ != epoch_) return dead_handle(path_);
    *size_bytes = inode_->data.size();
    return {};
  }

 private:
  IoStatus guard(FsOp op) {
    if (fs_->epoch_ != epoch_) return dead_handle(path_);
    return fs_->check(op, path_);
  }

  // How many of n bytes at offset fit under the capacity.
  std::size_t fit(std::uint64_t offset, std::size_t n) {
    if (fs_->capacity_bytes_ == 0) return n;
    if (fs_->disk_full_) return 0;  // the write after a short one fails
    std::uint64_t used = fs_->used_bytes_locked();
    std::uint64_t room = fs_->capacity_bytes_ > used ? fs_->capacity_bytes_ - used : 0;
    std::uint64_t limit_end = inode_->data.size() + room;
    if (offset + n <= limit_end) return n;
    fs_->disk_full_ = true;
    return offset >= limit_end ? 0 : static_cast<std::size_t>(limit_end - offset);
  }

  FaultFileSystem* fs_;
  std::shared_ptr<FaultFileSystem::Inode> inode_;
  std::string path_;
  std::uint64_t epoch_;  // Invariant: equals fs_->epoch_ while the handle is alive.
};

class FaultLock final : public FileLock {
 public:
  FaultLock(FaultFileSystem* fs, std::string path, std::uint64_t epoch)
      : fs_(fs), path_(std::move(path)), epoch_(epoch) {}
  ~FaultLock() override {
    std::lock_guard lock(fs_->mutex_);
    if (fs_->epoch_ == epoch_) fs_->locked_.erase(path_);
  }
  FaultLock(const FaultLock&) = delete;
  FaultLock& operator=(const FaultLock&) = delete;

 private:
  FaultFileSystem* fs_;
  std::string path_;
  std::uint64_t epoch_;
};

// The root and the working directory exist from the start, as on a real disk.
FaultFileSystem::FaultFileSystem() : dirs_{"/", "."} {}
FaultFileSystem::~FaultFileSystem() = default;

void FaultFileSystem::fail(FsOp op, int error_number, std::uint64_t skip, std::uint64_t count) {
  std::lock_guard lock(mutex_);
  rules_.push_back(Rule{op, error_number, skip, count});
}

void FaultFileSystem::set_write_bytes_max(std::size_t bytes) {
  std::lock_guard lock(mutex_);
  write_bytes_max_ = bytes;
}

void FaultFileSystem::set_capacity_bytes(std::uint64_t bytes) {
  std::lock_guard lock(mutex_);
  capacity_bytes_ = bytes;
  disk_full_ = false;
}

void FaultFileSystem::clear_faults() {
  std::lock_guard lock(mutex_);
  rules_.clear();
  write_bytes_max_ = 0;
  capacity_bytes_ = 0;
  disk_full_ = false;
}

IoStatus FaultFileSystem::check(FsOp op, const std::string& path) {
  ++calls_[op_index(op)];
  for (Rule& r : rules_) {
    if (r.op != op || r.count == 0) continue;
    if (r.skip > 0) {
      --r.skip;
      continue;
    }
    --r.count;
    return IoStatus::from_errno(r.error_number, fmt::format("injected fault: {}", op_name(op)),
                                path);
  }
  return {};
}

void FaultFileSystem::crash(std::uint64_t keep_unsynced_bytes) {
  std::lock_guard lock(mutex_);
  ++epoch_;
  locked_.clear();
  disk_full_ = false;
  names_ = durable_names_;
  std::set<Inode*> done;
  for (auto& [path, inode] : names_) {
    if (!done.insert(inode.get()).second) continue;
    inode->data = inode->durable;
    std::uint64_t budget = keep_unsynced_bytes;
    for (const Inode::Op& op : inode->unsynced) {
      if (budget == 0) break;
      std::size_t n = 0;
      if (op.kind == Inode::Op::Kind::write) {
        n = static_cast<std::size_t>(std::min<std::uint64_t>(budget, op.bytes.size()));
        budget -= n;
      }
      apply(inode->data, op, n);
    }
    inode->durable = inode->data;
    inode->unsynced.clear();
  }
}

std::uint64_t FaultFileSystem::calls(FsOp op) const {
  std::lock_guard lock(mutex_);
  return calls_[op_index(op)];
}

bool FaultFileSystem::exists(const std::string& path) const {
  std::lock_guard lock(mutex_);
  return names_.count(path) != 0;
}

std::vector<std::byte> FaultFileSystem::contents(const std::string& path) const {
  std::lock_guard lock(mutex_);
  auto it = names_.find(path);
  return it == names_.end() ? std::vector<std::byte>{} : it->second->data;
}

void FaultFileSystem::set_contents(const std::string& path, std::vector<std::byte> bytes) {
  std::lock_guard lock(mutex_);
  auto& inode = names_[path];
  if (!inode) inode = std::make_shared<Inode>();
  durable_names_[path] = inode;
  inode->data = std::move(bytes);
  inode->durable = inode->data;
  inode->unsynced.clear();
}

std::uint64_t FaultFileSystem::used_bytes() const {
  std::lock_guard lock(mutex_);
  return used_bytes_locked();
}

std::uint64_t FaultFileSystem::used_bytes_locked() const {
  std::set<const Inode*> seen;
  std::uint64_t total = 0;
  for (const auto& [path, inode] : names_)
    if (seen.insert(inode.get()).second) total += inode->data.size();
  return total;
}

IoStatus FaultFileSystem::open(const std::string& path, OpenMode mode, std::unique_ptr<File>* out) {
  std::lock_guard lock(mutex_);
  if (IoStatus st = check(FsOp::open, path); !st.ok()) return st;
  if (!dirs_.count(parent_dir(path))) return IoStatus::from_errno(ENOENT, "open", path);
  auto it = names_.find(path);
  if (mode == OpenMode::create_new) {
    if (it != names_.end()) return IoStatus::from_errno(EEXIST, "open", path);
    it = names_.emplace(path, std::make_shared<Inode>()).first;
  } else if (it == names_.end()) {
    return IoStatus::from_errno(ENOENT, "open", path);
  }
  *out = std::make_unique<FaultFile>(this, it->second, path, epoch_);
  return {};
}

IoStatus FaultFileSystem::list(const std::string& dir, std::vector<std::string>* names) {
  std::lock_guard lock(mutex_);
  if (IoStatus st = check(FsOp::list, dir); !st.ok()) return st;
  if (!dirs_.count(dir)) return IoStatus::from_errno(ENOENT, "opendir", dir);
  names->clear();
  for (const auto& [path, inode] : names_)
    if (parent_dir(path) == dir) names->push_back(path.substr(path.rfind('/') + 1));
  // Subdirectories too, as readdir lists them (GroupLog keeps one per group).
  for (const std::string& sub : dirs_)
    if (sub != dir && parent_dir(sub) == dir) names->push_back(sub.substr(sub.rfind('/') + 1));
  return {};
}

IoStatus FaultFileSystem::rename(const std::string& from, const std::string& to) {
  std::lock_guard lock(mutex_);
  if (IoStatus st = check(FsOp::rename, from); !st.ok()) return st;
  auto it = names_.find(from);
  if (it == names_.end()) return IoStatus::from_errno(ENOENT, "rename", from);
  names_[to] = it->second;
  names_.erase(from);
  return {};
}

IoStatus FaultFileSystem::remove(const std::string& path) {
  std::lock_guard lock(mutex_);
  if (IoStatus st = check(FsOp::remove, path); !st.ok()) return st;
  if (names_.erase(path) == 0) return IoStatus::from_errno(ENOENT, "unlink", path);
  return {};
}

IoStatus FaultFileSystem::sync_dir(const std::string& dir) {
  std::lock_guard lock(mutex_);
  if (IoStatus st = check(FsOp::sync_dir, dir); !st.ok()) return st;
  if (!dirs_.count(dir)) return IoStatus::from_errno(ENOENT, "open directory", dir);
  std::erase_if(durable_names_, [&](const auto& kv) { return parent_dir(kv.first) == dir; });
  for (const auto& [path, inode] : names_)
    if (parent_dir(path) == dir) durable_names_[path] = inode;
  return {};
}

IoStatus FaultFileSystem::make_dir(const std::string& dir, bool* created) {
  std::lock_guard lock(mutex_);
  if (IoStatus st = check(FsOp::make_dir, dir); !st.ok()) return st;
  // Simplification: directories themselves survive crashes at once.
  *created = dirs_.insert(dir).second;
  return {};
}

IoStatus FaultFileSystem::lock(const std::string& path, std::unique_ptr<FileLock>* out) {
  std::lock_guard lock(mutex_);
  if (IoStatus st = check(FsOp::lock, path); !st.ok()) return st;
  if (!dirs_.count(parent_dir(path))) return IoStatus::from_errno(ENOENT, "open lock file", path);
  if (!locked_.insert(path).second)
    return IoStatus::failure(Status::storage_error, "lock " + path + ": held by another process");
  if (!names_.count(path)) names_.emplace(path, std::make_shared<Inode>());
  *out = std::make_unique<FaultLock>(this, path, epoch_);
  return {};
}

}  // namespace synod

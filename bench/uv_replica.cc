#include "uv_replica.h"

#include <fmt/format.h>

#include "run.h"
#include "synod/log_storage.h"

namespace synod::bench {

UvReplica::UvReplica(uv_loop_t* loop, const BenchOptions& o, NodeId id, std::string run_dir)
    : loop_(loop), o_(o), id_(id), run_dir_(std::move(run_dir)) {}

UvReplica::~UvReplica() = default;

void UvReplica::log(std::string_view line) const {
  bool routine = line.starts_with("connected to node") || line.starts_with("lost connection") ||
                 line.find("reconnected") != std::string_view::npos;
  if (o_.verbose || (!routine && !quiet_))
    fmt::print(stderr, "synod-bench node {}: {}\n", id_.value, line);
}

bool UvReplica::start(std::uint64_t cluster_id,
                      std::function<std::string(Slot, std::string_view)> apply, std::string* why) {
  storage_ = open_storage(o_, run_dir_, id_, why);
  if (!storage_) return false;
  TcpTransportOptions t;
  t.self = id_;
  t.cluster_id = cluster_id;
  for (std::uint64_t i = 1; i <= o_.ports.size(); ++i) {
    std::string addr = fmt::format("127.0.0.1:{}", o_.ports[i - 1]);
    if (i == id_.value)
      t.listen_address = addr;
    else
      t.peers.push_back(Peer{NodeId{i}, addr});
  }
  wire::WireLimits limits = wire_limits(o_);
  t.frame_bytes_max = limits.frame_bytes_max;
  t.log = [this](std::string_view line) { log(line); };
  if (!o_.tls_dir.empty()) {
    t.tls.cert_file = fmt::format("{}/node-{}.pem", o_.tls_dir, id_.value);
    t.tls.key_file = fmt::format("{}/node-{}.key", o_.tls_dir, id_.value);
    t.tls.ca_file = o_.tls_dir + "/ca.pem";
  }
  transport_ = std::make_unique<TcpTransport>(loop_, t);

  UvHostOptions h;
  h.config = replica_config(o_, id_);
  h.tick_ms = o_.tick_ms;
  h.limits = limits;
  h.apply = [this, apply = std::move(apply)](Slot slot, std::string_view command) {
    state_.apply_command(command);
    return apply ? apply(slot, command) : std::string{};
  };
  h.restore = [this](const Snapshot& snap) {
    if (!state_.restore(snap))
      log(fmt::format("a snapshot of slot {} is not a bench state machine image",
                      snap.meta.slot.value));
  };
  h.snapshot_every_slots = o_.snapshot_every;
  h.snapshot = [this] {
    ++snapshots_;
    return state_.image();
  };
  h.log = [this](std::string_view line) { log(line); };
  // The bench's state machine is rebuilt at every start (Config::applied
  // stays 0): committed commands may apply while their Ready is synced.
  h.apply_before_durable = o_.apply_before_durable;
  // The durable log persists on a LogWriter thread (group commit), so the
  // loop never waits for fdatasync.
  HostStorage storage = o_.storage == StorageKind::memory
                            ? HostStorage::on_loop(*storage_)
                            : HostStorage::log_writer(static_cast<LogStorage&>(*storage_));
  host_ = std::make_unique<UvHost>(loop_, storage, *transport_, h);
  if (host_->start(why) != Status::ok) {
    if (why->empty()) *why = "the host did not start";
    return false;
  }
  return true;
}

void UvReplica::stop() {
  quiet_ = true;
  if (host_) host_->stop();
  if (transport_) transport_->stop();
}

}  // namespace synod::bench

// One group of a GroupHost: its storage (when in memory), its Ready loop
// driver and the host's bookkeeping flags. In-tree only.
#pragma once

#include <memory>

#include "replica_driver.h"
#include "synod/group_host.h"
#include "synod/memory_storage.h"

namespace synod {

struct GroupHost::Group {
  GroupId id{};
  std::unique_ptr<MemoryStorage> memory;  // null with a GroupLog
  std::unique_ptr<ReplicaDriver> driver;
  Membership membership;  // the last one reported, for the host's peer set
  std::function<void(const Membership&)> user_on_membership;
  bool runnable = false;  // listed in runnable_
  bool staged = false;    // listed in staged_groups_
  bool failed = false;    // listed in failing_
};

}  // namespace synod

// Umbrella header: everything a host needs to embed synod.
#pragma once

#include "synod/config.h"
#include "synod/memory_storage.h"
#include "synod/message.h"
#include "synod/ready.h"
#include "synod/replica.h"
#include "synod/status.h"
#include "synod/storage.h"
#include "synod/transport.h"
#include "synod/types.h"
#include "synod/value.h"

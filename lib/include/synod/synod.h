// Umbrella header: everything a host needs to embed synod's core and
// storage. The codec (synod/wire.h, library synod_wire) and the libuv pieces
// (synod/tcp_transport.h, synod/uv_host.h) have their own headers.
#pragma once

#include "synod/config.h"
#include "synod/file_system.h"
#include "synod/log_storage.h"
#include "synod/log_writer.h"
#include "synod/memory_storage.h"
#include "synod/message.h"
#include "synod/panic.h"
#include "synod/ready.h"
#include "synod/replica.h"
#include "synod/seed.h"
#include "synod/status.h"
#include "synod/storage.h"
#include "synod/transport.h"
#include "synod/types.h"
#include "synod/value.h"

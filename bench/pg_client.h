// The bench's blocking connections are the library's own PgClient
// (storage/pg_client.h): setup, auditors and final checks run beside the
// system under test, never through it.
#pragma once

#include "storage/pg_client.h"

namespace twopc::bench {

using internal::PgClient;
using internal::PgClientTimeouts;
using internal::TextRow;
using internal::TimeoutsOf;

}  // namespace twopc::bench

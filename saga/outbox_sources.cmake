# The transactional-outbox choreography (twopc/outbox.h), part of libtwopc.
target_sources(twopc PRIVATE
  ${PROJECT_SOURCE_DIR}/saga/outbox_bus.cc
  ${PROJECT_SOURCE_DIR}/saga/outbox_backoff.cc
  ${PROJECT_SOURCE_DIR}/saga/outbox_handlers.cc
  ${PROJECT_SOURCE_DIR}/saga/outbox_log_limiter.cc
  ${PROJECT_SOURCE_DIR}/saga/outbox_relay.cc
  ${PROJECT_SOURCE_DIR}/saga/outbox_relay_threads.cc
  ${PROJECT_SOURCE_DIR}/saga/outbox_schema.cc
  ${PROJECT_SOURCE_DIR}/saga/outbox_store.cc
)

// The daemon-wide event exchange: every service publishes what it changed, after the change is
// committed, under containerd's topics ("/images/create", "/tasks/exit", ...), and subscribers
// receive what their filters select, in order.
//
// A subscriber that reads slowly never slows a publisher: each has its own queue of at most
// QUEUE envelopes, sent one at a time as Cap'n Proto's stream flow control allows; what does
// not fit is dropped and counted, and the subscriber gets a "/events/lost" envelope with the
// count in its place, so a gap is never silent. Envelopes carry the daemon's sequence number
// too. A subscription made through a namespace sees only that namespace.
#pragma once

#include <common/filters.h>
#include <kj/async.h>
#include <kj/string.h>
#include <kj/vector.h>
#include <schema/events.capnp.h>

#include <initializer_list>
#include <utility>

namespace ctrd {

struct EventField {
  kj::String key;
  kj::String value;
  bool number = false;  // written as a JSON number, not a string
};

struct Event {
  int64_t timestamp;
  uint64_t sequence;
  kj::String ns;
  kj::String topic;
  kj::Vector<EventField> fields;  // the event's own, as containerd's protobuf names them
  kj::String json;
};

class EventBus {
public:
  EventBus();
  KJ_DISALLOW_COPY(EventBus);
  ~EventBus() noexcept(false);

  void publish(kj::StringPtr ns, kj::StringPtr topic, kj::Vector<EventField> fields);
  void publishRaw(kj::StringPtr ns, kj::StringPtr topic, kj::String json);
  // A client's own event, its payload as given.

  kj::Own<schema::Subscription::Server> subscribe(Filter filter, kj::Maybe<kj::String> ns,
                                                  schema::Subscriber::Client subscriber);
  // `ns`: only that namespace's events (a tenant's view); null: every namespace's.

  void watch(kj::Promise<void> promise);
  // Keeps a promise that publishes later (a task's exit) running for the daemon's life.

  static constexpr size_t QUEUE = 1024;

  class Sink;

private:
  void deliver(const Event& e);

  uint64_t sequence = 0;
  kj::Vector<Sink*> sinks;  // each subscription's, while it lives
  struct LogErrors final : public kj::TaskSet::ErrorHandler {
    void taskFailed(kj::Exception&& e) override;
  } errors;
  kj::TaskSet watching;
};

class EventsServer final : public schema::Events::Server {
public:
  EventsServer(EventBus& bus, kj::Maybe<kj::String> ns) : bus(bus), ns(kj::mv(ns)) {}
  kj::Promise<void> subscribe(SubscribeContext context) override;
  kj::Promise<void> publish(PublishContext context) override;

private:
  EventBus& bus;
  kj::Maybe<kj::String> ns;  // a tenant's: only its namespace
};

void publishCommitted(EventBus& bus, kj::ArrayPtr<const struct Change> changes);
// meta.db's committed changes under containerd's topics and fields: /images/* {name},
// /containers/* {id}, /content/create|delete {digest}, /namespaces/* {name}.

kj::Vector<EventField> eventFields(
    std::initializer_list<std::pair<kj::StringPtr, kj::StringPtr>> strings);
// String fields, in order.

}  // namespace ctrd

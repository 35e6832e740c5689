#include "events.h"

#include <common/clock.h>
#include <common/errors.h>
#include <common/identifiers.h>
#include <common/log.h>
#include <kj/debug.h>

#include <deque>
#include <nlohmann/json.hpp>

#include "metadata/store.h"

namespace ctrd {
namespace {

kj::String toJson(kj::ArrayPtr<const EventField> fields) {
  // In the order given, as containerd's protobuf fields print.
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (auto& f : fields) {
    if (f.number) {
      out[f.key.cStr()] = std::stoll(f.value.cStr());
    } else {
      out[f.key.cStr()] = f.value.cStr();
    }
  }
  return kj::str(out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
}

}  // namespace

kj::Vector<EventField> eventFields(
    std::initializer_list<std::pair<kj::StringPtr, kj::StringPtr>> strings) {
  kj::Vector<EventField> out;
  for (auto& [k, v] : strings) out.add(EventField{kj::str(k), kj::str(v), false});
  return out;
}

class EventBus::Sink final : public schema::Subscription::Server {
  // One subscription: its filter, its queue and the one envelope in flight.
public:
  Sink(EventBus& bus, Filter filter, kj::Maybe<kj::String> ns, schema::Subscriber::Client to)
      : bus(bus), filter(kj::mv(filter)), ns(kj::mv(ns)), to(kj::mv(to)) {
    bus.sinks.add(this);
  }
  ~Sink() noexcept(false) {
    for (size_t i = 0; i < bus.sinks.size(); i++) {
      if (bus.sinks[i] == this) {
        bus.sinks[i] = bus.sinks.back();
        bus.sinks.removeLast();
        break;
      }
    }
  }

  void offer(const Event& e) {
    if (dead) return;
    KJ_IF_MAYBE(only, ns) {
      if (*only != e.ns) return;
    }
    FieldLookup fields = [&e](kj::ArrayPtr<const kj::String> path) -> kj::Maybe<kj::String> {
      if (path.size() == 1 && path[0] == "namespace") return kj::str(e.ns);
      if (path.size() == 1 && path[0] == "topic") return kj::str(e.topic);
      if (path.size() >= 2 && path[0] == "event") {
        auto key = kj::strArray(path.slice(1, path.size()), ".");
        for (auto& f : e.fields) {
          if (f.key == key) return kj::str(f.value);
        }
      }
      return nullptr;
    };
    if (!filter.matches(fields)) return;
    if (queued >= QUEUE) {
      // No room: counted, and said in its place.
      if (queue.size() > 0 && queue.back().lost > 0) {
        queue.back().lost++;
      } else {
        queue.push_back(Item{1, e.sequence, 0, nullptr, nullptr, nullptr});
      }
      return;
    }
    queue.push_back(
        Item{0, e.sequence, e.timestamp, kj::str(e.ns), kj::str(e.topic), kj::str(e.json)});
    queued++;
    pump();
  }

private:
  struct Item {
    uint64_t lost;  // > 0: a gap of that many events in place of one
    uint64_t sequence;
    int64_t timestamp;
    kj::String ns;
    kj::String topic;
    kj::String json;
  };

  EventBus& bus;
  Filter filter;
  kj::Maybe<kj::String> ns;
  schema::Subscriber::Client to;
  std::deque<Item> queue;
  size_t queued = 0;  // real events in `queue`
  bool sending = false;
  bool dead = false;
  kj::Promise<void> inFlight = kj::READY_NOW;

  void pump() {
    if (sending || dead || queue.empty()) return;
    sending = true;
    // Replaced only when idle: never from inside its own continuation.
    inFlight = drain().eagerlyEvaluate([this](kj::Exception&&) {
      // The subscriber went away: nothing more is queued for it.
      dead = true;
      queue.clear();
      queued = 0;
    });
  }

  kj::Promise<void> drain() {
    // One envelope at a time, as the stream's flow control lets it go.
    if (dead || queue.empty()) {
      sending = false;
      return kj::READY_NOW;
    }
    auto item = kj::mv(queue.front());
    queue.pop_front();
    auto req = to.eventRequest();
    auto envelope = req.initEnvelope();
    if (item.lost > 0) {
      envelope.setTimestamp(nowNanos());
      envelope.setTopic("/events/lost");
      envelope.setSequence(item.sequence);
      auto json = kj::str("{\"count\":", item.lost, "}");
      envelope.setEvent(json.asBytes());
      KJ_IF_MAYBE(only, ns) {
        envelope.setNamespace(*only);
      }
    } else {
      queued--;
      envelope.setTimestamp(item.timestamp);
      envelope.setNamespace(item.ns);
      envelope.setTopic(item.topic);
      envelope.setSequence(item.sequence);
      envelope.setEvent(item.json.asBytes());
    }
    return req.send().then([this]() { return drain(); });
  }
};

EventBus::EventBus() : watching(errors) {}
EventBus::~EventBus() noexcept(false) {}

void EventBus::LogErrors::taskFailed(kj::Exception&& e) {
  logDebug("event source: ", e.getDescription());
}

void EventBus::publish(kj::StringPtr ns, kj::StringPtr topic, kj::Vector<EventField> fields) {
  auto json = toJson(fields);
  deliver(Event{nowNanos(), ++sequence, kj::str(ns), kj::str(topic), kj::mv(fields), kj::mv(json)});
}

void EventBus::publishRaw(kj::StringPtr ns, kj::StringPtr topic, kj::String json) {
  deliver(Event{nowNanos(), ++sequence, kj::str(ns), kj::str(topic), {}, kj::mv(json)});
}

void EventBus::deliver(const Event& e) {
  // A copy of the list: a sink whose subscriber failed stays listed until it is dropped.
  auto targets = kj::heapArray<Sink*>(sinks.asPtr());
  for (auto* s : targets) s->offer(e);
}

kj::Own<schema::Subscription::Server> EventBus::subscribe(Filter filter, kj::Maybe<kj::String> ns,
                                                          schema::Subscriber::Client subscriber) {
  return kj::heap<Sink>(*this, kj::mv(filter), kj::mv(ns), kj::mv(subscriber));
}

void publishCommitted(EventBus& bus, kj::ArrayPtr<const Change> changes) {
  for (auto& c : changes) {
    kj::StringPtr key;
    if (c.topic.startsWith("/images/") || c.topic.startsWith("/namespaces/")) {
      key = "name";
    } else if (c.topic.startsWith("/containers/")) {
      key = "id";
    } else if (c.topic == "/content/create" || c.topic == "/content/delete") {
      key = "digest";
    } else {
      continue;  // containerd has no event for it (a blob's labels)
    }
    bus.publish(c.ns, c.topic, eventFields({{key, c.subject}}));
  }
}

void EventBus::watch(kj::Promise<void> promise) {
  watching.add(kj::mv(promise));
}

}  // namespace ctrd

namespace ctrd {

namespace {

bool daemonTopic(kj::StringPtr topic) {
  for (auto prefix : {"/images/", "/containers/", "/content/", "/snapshot/", "/tasks/",
                      "/namespaces/", "/events/"}) {
    if (topic.startsWith(prefix)) return true;
  }
  return false;
}

}  // namespace

kj::Promise<void> EventsServer::subscribe(SubscribeContext context) {
  auto params = context.getParams();
  auto filter = Filter::parse(params.getFilters());
  context.getResults().setSubscription(
      bus.subscribe(kj::mv(filter), ns.map([](const kj::String& n) { return kj::str(n); }),
                    params.getSubscriber()));
  return kj::READY_NOW;
}

kj::Promise<void> EventsServer::publish(PublishContext context) {
  auto params = context.getParams();
  auto topic = params.getTopic();
  if (!topic.startsWith("/") || topic.size() > 256 || daemonTopic(topic)) {
    throwError(ErrorKind::INVALID_ARGUMENT,
               kj::str("topic \"", topic,
                       "\": a client publishes only topics of its own, "
                       "starting with '/'"));
  }
  kj::String target;
  KJ_IF_MAYBE(only, ns) {
    if (params.getNamespace().size() > 0 && params.getNamespace() != *only) {
      throwError(ErrorKind::NOT_FOUND, kj::str("namespace \"", params.getNamespace(), "\""));
    }
    target = kj::str(*only);
  } else {
    validateIdentifier("namespace", params.getNamespace());
    target = kj::str(params.getNamespace());
  }
  auto data = params.getEvent();
  bus.publishRaw(target, topic,
                 kj::str(kj::StringPtr(reinterpret_cast<const char*>(data.begin()), data.size())));
  return kj::READY_NOW;
}

}  // namespace ctrd

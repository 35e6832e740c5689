@0x9505d96b8e5709b1;
# Daemon-wide events: what changed, published after the change is committed.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ctrd::schema");

struct Envelope {
  timestamp @0 :Int64;      # nanoseconds since the epoch
  namespace @1 :Text;
  topic @2 :Text;           # "/images/create", "/tasks/exit", ... as containerd names them
  event @3 :Data;           # the event's fields, JSON, as `ctr events` prints them
  sequence @4 :UInt64;      # increasing per daemon: a subscriber sees where it lost events
}

interface Subscriber {
  # The subscriber's. Events arrive in order; a subscriber that falls too far behind is
  # dropped with a last envelope on topic "/events/dropped".
  event @0 (envelope :Envelope) -> stream;
}

interface Subscription {
  # Dropping it ends the subscription.
}

interface Events {
  subscribe @0 (filters :List(Text), subscriber :Subscriber) -> (subscription :Subscription);
  # Fields: namespace, topic, and the event's own (event.KEY).
  publish @1 (namespace :Text, topic :Text, event :Data);
  # For clients that publish their own topics; the daemon's own topics are refused.
}

#include "client.h"

namespace ctrd {

DaemonClient::DaemonClient(kj::StringPtr address)
    : io(kj::setupAsyncIo()), rpc(connectRpc(*io.lowLevelProvider, address)) {}

}  // namespace ctrd

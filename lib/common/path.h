// Paths, only ever relative to a directory fd: opening beneath one without escaping it, listing
// one, making and opening one. Every service reaches the filesystem through these.
#pragma once

#include <kj/io.h>
#include <kj/string.h>
#include <kj/vector.h>
#include <sys/types.h>

namespace ctrd {

int openBeneath(int dirFd, kj::StringPtr path, int flags);
// openat2 with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS, close-on-exec: no "..", absolute
// symlink or /proc magic link leads out of `dirFd`. Returns the fd, or -1 with errno set (the
// caller says what failed, and where).

kj::AutoCloseFd openDirectory(int parentFd, kj::StringPtr name);
// O_RDONLY | O_DIRECTORY | O_NOFOLLOW.

kj::AutoCloseFd makeDirectory(int parentFd, kj::StringPtr name, mode_t mode);
// Creates `name` unless it exists, then opens it as openDirectory() does.

kj::Vector<kj::String> listDirectory(int dirFd);
// The names in the directory, without "." and "..", in the order the filesystem gives them.
// Reads through a descriptor of its own: `dirFd`'s offset is untouched.

kj::Maybe<kj::String> tryReadSmallFile(int dirFd, kj::StringPtr name, size_t limit = 4096);
// The first `limit` bytes of a regular file (never through a symlink); null when it is absent
// or cannot be opened.

void writeSmallFile(int dirFd, kj::StringPtr name, kj::ArrayPtr<const kj::byte> content,
                    mode_t mode = 0600);
// Creates or truncates `name` (never through a symlink) and writes `content` whole.

}  // namespace ctrd

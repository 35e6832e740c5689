#include "clock.h"

#include <stdio.h>
#include <string.h>

namespace ctrd {

int64_t nowNanos() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return toNanos(ts);
}

namespace {

bool digits(const char*& p, int count, int& out) {
  out = 0;
  for (int i = 0; i < count; i++, p++) {
    if (*p < '0' || *p > '9') return false;
    out = out * 10 + (*p - '0');
  }
  return true;
}

bool expect(const char*& p, char c) {
  if (*p != c) return false;
  p++;
  return true;
}

}  // namespace

kj::Maybe<int64_t> parseRfc3339(kj::StringPtr text) {
  const char* p = text.cStr();
  int year, month, day, hour, minute, second;
  if (!digits(p, 4, year) || !expect(p, '-') || !digits(p, 2, month) || !expect(p, '-') ||
      !digits(p, 2, day) || (*p != 'T' && *p != 't') || !digits(++p, 2, hour) || !expect(p, ':') ||
      !digits(p, 2, minute) || !expect(p, ':') || !digits(p, 2, second)) {
    return nullptr;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return nullptr;
  }
  int64_t nanos = 0;
  if (*p == '.') {
    p++;
    int64_t scale = 100000000;
    if (*p < '0' || *p > '9') return nullptr;
    for (; *p >= '0' && *p <= '9'; p++) {
      nanos += (*p - '0') * scale;
      scale /= 10;
    }
  }
  int64_t offset = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int sign = *p++ == '-' ? -1 : 1;
    int oh, om;
    if (!digits(p, 2, oh) || !expect(p, ':') || !digits(p, 2, om) || oh > 23 || om > 59) {
      return nullptr;
    }
    offset = sign * (oh * 3600 + om * 60);
  } else {
    return nullptr;
  }
  if (*p != '\0') return nullptr;
  struct tm tm = {};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  int64_t seconds = timegm(&tm) - offset;
  return seconds * 1000000000 + nanos;
}

namespace {

kj::String formatTime(int64_t nanoseconds, const char* layout, const char* zone) {
  time_t seconds = nanoseconds / 1000000000;
  int64_t nanos = nanoseconds % 1000000000;
  if (nanos < 0) {
    nanos += 1000000000;
    seconds--;
  }
  struct tm tm;
  gmtime_r(&seconds, &tm);
  char out[80];
  size_t n = strftime(out, sizeof(out), layout, &tm);
  if (nanos > 0) {
    char fraction[16];
    snprintf(fraction, sizeof(fraction), ".%09lld", static_cast<long long>(nanos));
    size_t len = strlen(fraction);
    while (fraction[len - 1] == '0') fraction[--len] = '\0';
    n += snprintf(out + n, sizeof(out) - n, "%s", fraction);
  }
  snprintf(out + n, sizeof(out) - n, "%s", zone);
  return kj::str(out);
}

}  // namespace

kj::String formatRfc3339(int64_t nanoseconds) {
  return formatTime(nanoseconds, "%Y-%m-%dT%H:%M:%S", "Z");
}

kj::String formatGoTime(int64_t nanoseconds) {
  return formatTime(nanoseconds, "%Y-%m-%d %H:%M:%S", " +0000 UTC");
}

}  // namespace ctrd

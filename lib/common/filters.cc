#include "filters.h"

#include <ctype.h>
#include <kj/vector.h>
#include <re2/re2.h>

#include <string>

#include "errors.h"

namespace ctrd {

struct Filter::Selector {
  enum class Op { PRESENT, EQUAL, NOT_EQUAL, MATCHES };
  kj::Array<kj::String> fieldpath;
  Op op;
  kj::String value;
  kj::Maybe<kj::Own<re2::RE2>> pattern;
};

namespace {

// A pattern comes from any client. RE2 matches in time linear in the input, whatever the
// pattern (std::regex backtracks: `^(a+)+$` froze the daemon); these bound what compiling costs.
constexpr size_t MAX_PATTERN = 1024;
constexpr int64_t MAX_PATTERN_MEMORY = 1 << 20;

class Parser {
public:
  Parser(kj::StringPtr text) : text(text) {}

  kj::Array<Filter::Selector> parseSelectors() {
    kj::Vector<Filter::Selector> out;
    do {
      skipSpace();
      out.add(parseSelector());
      skipSpace();
    } while (take(','));
    if (pos != text.size()) fail("expected ',' or the end");
    return out.releaseAsArray();
  }

private:
  kj::StringPtr text;
  size_t pos = 0;

  [[noreturn]] void fail(kj::StringPtr what) {
    throwError(ErrorKind::INVALID_ARGUMENT,
               kj::str("filter \"", text, "\": ", what, " at position ", pos));
  }

  void skipSpace() {
    while (pos < text.size() && text[pos] == ' ') pos++;
  }

  bool take(char c) {
    if (pos < text.size() && text[pos] == c) {
      pos++;
      return true;
    }
    return false;
  }

  kj::String quoted() {
    kj::Vector<char> out;
    while (pos < text.size() && text[pos] != '"') {
      if (text[pos] == '\\' && pos + 1 < text.size()) pos++;
      out.add(text[pos++]);
    }
    if (!take('"')) fail("unterminated quoted string");
    out.add('\0');
    return kj::String(out.releaseAsArray());
  }

  kj::String field() {
    if (take('"')) return quoted();
    size_t start = pos;
    while (pos < text.size() && (isalnum(static_cast<unsigned char>(text[pos])) ||
                                 text[pos] == '_' || text[pos] == '-' || text[pos] == '/')) {
      pos++;
    }
    if (pos == start) fail("expected a field name");
    return kj::heapString(text.slice(start, pos));
  }

  Filter::Selector parseSelector() {
    kj::Vector<kj::String> path;
    path.add(field());
    while (take('.')) path.add(field());
    skipSpace();
    Filter::Selector s{path.releaseAsArray(), Filter::Selector::Op::PRESENT, kj::str(), nullptr};
    if (pos + 1 < text.size() && text[pos + 1] == '=') {
      switch (text[pos]) {
        case '=':
          s.op = Filter::Selector::Op::EQUAL;
          break;
        case '!':
          s.op = Filter::Selector::Op::NOT_EQUAL;
          break;
        case '~':
          s.op = Filter::Selector::Op::MATCHES;
          break;
        default:
          fail("unknown operator");
      }
      pos += 2;
      skipSpace();
      if (take('"')) {
        s.value = quoted();
      } else {
        size_t start = pos;
        while (pos < text.size() && text[pos] != ',') pos++;
        size_t end = pos;
        while (end > start && text[end - 1] == ' ') end--;
        s.value = kj::heapString(text.slice(start, end));
      }
      if (s.op == Filter::Selector::Op::MATCHES) {
        if (s.value.size() > MAX_PATTERN) {
          fail(kj::str("regular expression longer than ", MAX_PATTERN, " bytes"));
        }
        re2::RE2::Options options;
        options.set_log_errors(false);
        options.set_max_mem(MAX_PATTERN_MEMORY);
        auto re = kj::heap<re2::RE2>(re2::StringPiece(s.value.begin(), s.value.size()), options);
        if (!re->ok()) {
          fail(kj::str("invalid regular expression \"", s.value, "\": ", re->error().c_str()));
        }
        s.pattern = kj::mv(re);
      }
    }
    return s;
  }
};

bool selectorMatches(const Filter::Selector& s, FieldLookup& lookup) {
  KJ_IF_MAYBE(value, lookup(s.fieldpath)) {
    switch (s.op) {
      case Filter::Selector::Op::PRESENT:
        return true;
      case Filter::Selector::Op::EQUAL:
        return *value == s.value;
      case Filter::Selector::Op::NOT_EQUAL:
        return *value != s.value;
      case Filter::Selector::Op::MATCHES: {
        KJ_IF_MAYBE(re, s.pattern) {
          return re2::RE2::PartialMatch(re2::StringPiece(value->begin(), value->size()), **re);
        }
        return false;
      }
    }
    return false;
  }
  // containerd: a field that is absent never matches, whatever the operator.
  return false;
}

}  // namespace

Filter::Filter(kj::Array<kj::Array<Selector>> alternatives) : alternatives(kj::mv(alternatives)) {}
Filter::Filter(Filter&&) = default;
Filter::~Filter() noexcept(false) {}

Filter Filter::parse(kj::ArrayPtr<const kj::StringPtr> filters) {
  kj::Vector<kj::Array<Selector>> out;
  for (auto f : filters) {
    if (f.size() == 0) continue;
    out.add(Parser(f).parseSelectors());
  }
  return Filter(out.releaseAsArray());
}

Filter Filter::parse(capnp::List<capnp::Text>::Reader filters) {
  auto ptrs = KJ_MAP(t, filters)->kj::StringPtr {
    return t;
  };
  return parse(ptrs);
}

bool Filter::matches(FieldLookup& lookup) const {
  if (alternatives.size() == 0) return true;
  for (auto& all : alternatives) {
    bool ok = true;
    for (auto& s : all) {
      if (!selectorMatches(s, lookup)) {
        ok = false;
        break;
      }
    }
    if (ok) return true;
  }
  return false;
}

}  // namespace ctrd

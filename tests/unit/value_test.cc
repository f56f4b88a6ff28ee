// Value: a batch's commands in one block (synod/value.h), and its builder.
#include "synod/value.h"

#include <doctest/doctest.h>

#include <iterator>
#include <ranges>
#include <string>
#include <vector>

#include "synod/membership.h"

using namespace synod;

static_assert(std::random_access_iterator<CommandsView::iterator>);
static_assert(std::ranges::random_access_range<CommandsView>);
static_assert(std::ranges::sized_range<CommandsView>);

namespace {

// Commands of every size from empty to a few KiB, with bytes that tell
// them apart (a view cut at the wrong offset reads the wrong bytes).
std::vector<std::string> mixed_commands(std::size_t n) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i)
    out.push_back(std::string((i * 37) % 3001, static_cast<char>('a' + i % 26)));
  return out;
}

}  // namespace

TEST_CASE("a value's commands read back in order, with their sizes and bytes") {
  const std::vector<std::string> cmds = {"set a 1", "", std::string("\0\xff", 2), "last"};
  const Value v = Value::of_commands(cmds);
  CHECK(v.kind() == ValueKind::commands);
  const CommandsView c = v.commands();
  REQUIRE(c.size() == 4);
  CHECK(!c.empty());
  for (std::size_t i = 0; i < cmds.size(); ++i) CHECK(c[i] == cmds[i]);
  CHECK(c.front() == "set a 1");
  CHECK(c.back() == "last");
  CHECK(c.to_strings() == cmds);
  CHECK(v.byte_size() == 7 + 0 + 2 + 4);
  CHECK(c.all_bytes() == std::string("set a 1\0\xfflast", 13));
  std::vector<std::string> walked;
  for (std::string_view s : v.commands()) walked.emplace_back(s);
  CHECK(walked == cmds);
  CHECK(std::ranges::equal(c, cmds));
  CHECK(c.end() - c.begin() == 4);
  CHECK(*(c.begin() + 2) == cmds[2]);
  CHECK(c.begin()[3] == "last");
}

TEST_CASE("a no-op and an empty batch have no commands, and differ") {
  CHECK(Value::noop().commands().empty());
  CHECK(Value::noop().byte_size() == 0);
  const Value empty = Value::of_commands({});
  CHECK(empty.kind() == ValueKind::commands);
  CHECK(empty.commands().empty());
  CHECK(empty.commands().all_bytes().empty());
  CHECK(empty == Value::of_commands({}));
  CHECK(!(empty == Value::noop()));
  CHECK(Value::of_kind(ValueKind::noop, {"ignored"}) == Value::noop());
}

TEST_CASE("values are equal by kind and commands, not by block") {
  const Value a = Value::of_commands({"x", "yy"});
  const Value same = Value::of_commands({"x", "yy"});
  const Value copy = a;  // shares the block
  CHECK(a == copy);
  CHECK(a == same);
  CHECK(!(a == Value::of_commands({"xy", "y"})));  // same bytes, other cut
  CHECK(!(a == Value::of_commands({"x", "yz"})));
  CHECK(!(a == Value::of_commands({"x"})));
  CHECK(!(a == Value::of_kind(ValueKind::config, {"x", "yy"})));
}

TEST_CASE("a view stays valid while any value sharing its block lives") {
  Value keeper;
  std::string_view view;
  {
    Value v = Value::of_commands({"kept past the first value"});
    keeper = v;
    view = v.commands()[0];
  }
  CHECK(view == "kept past the first value");
  CHECK(keeper.commands()[0].data() == view.data());  // the same bytes, not a copy
}

TEST_CASE("a builder grown command by command holds what a reserved one does") {
  for (std::size_t n : {1u, 7u, 8u, 9u, 100u, 1025u}) {
    const std::vector<std::string> cmds = mixed_commands(n);
    ValueBuilder grown;
    for (const std::string& c : cmds) grown.append(c);
    CHECK(grown.size() == n);
    ValueBuilder reserved;
    std::size_t bytes = 0;
    for (const std::string& c : cmds) bytes += c.size();
    reserved.reserve(n, bytes);
    for (const std::string& c : cmds) reserved.append(c);
    CHECK(reserved.byte_size() == bytes);
    const Value a = grown.finish();
    const Value b = reserved.finish();
    CHECK(grown.empty());  // finish() leaves the builder empty
    CHECK(a.commands().to_strings() == cmds);
    CHECK(a == b);
    CHECK(a.byte_size() == bytes);
    // The builder starts over after finish().
    grown.append("again");
    CHECK(grown.finish().commands().to_strings() == std::vector<std::string>{"again"});
  }
}

TEST_CASE("a builder reserved far beyond its use still yields the right value") {
  ValueBuilder b;
  b.reserve(1024, 1u << 20);
  b.append("small");
  const Value v = b.finish();
  CHECK(v.commands().to_strings() == std::vector<std::string>{"small"});
  CHECK(v.byte_size() == 5);
}

TEST_CASE("a configuration is one command, its membership's encoding") {
  Membership m;
  m.voters = {NodeId{1}, NodeId{2}, NodeId{3}};
  const Value v = config_value(m);
  CHECK(v.is_config());
  REQUIRE(v.commands().size() == 1);
  CHECK(v.commands()[0] == encode_membership(m));
  REQUIRE(membership_of(v).has_value());
  CHECK(*membership_of(v) == m);
}

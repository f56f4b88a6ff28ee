#include "synod/config.h"

#include <doctest/doctest.h>

using namespace synod;

static Config three() {
  Config c;
  c.id = NodeId{1};
  c.voters = {NodeId{1}, NodeId{2}, NodeId{3}};
  return c;
}

TEST_CASE("a sensible config validates") {
  std::string why;
  CHECK(three().validate(&why) == Status::ok);
  CHECK(three().quorum() == 2);
}

TEST_CASE("config validation names the bad setting") {
  std::string why;
  Config c = three();
  c.id = NodeId{4};
  CHECK(c.validate(&why) == Status::invalid_config);
  CHECK(why.find("neither a voter nor a learner") != std::string::npos);

  c = three();
  c.voters.push_back(NodeId{2});
  CHECK(c.validate(&why) == Status::invalid_config);
  CHECK(why.find("twice") != std::string::npos);

  c = three();
  c.election_ticks = 1;
  CHECK(c.validate(&why) == Status::invalid_config);
  CHECK(why.find("election_ticks") != std::string::npos);

  c = three();
  c.max_inflight = 0;
  CHECK(c.validate(&why) == Status::invalid_config);

  c = three();
  c.message_bytes_max = 10;
  CHECK(c.validate(&why) == Status::invalid_config);
  CHECK(why.find("message_bytes_max") != std::string::npos);
}

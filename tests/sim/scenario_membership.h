// The membership part of a scenario: spare nodes, alpha and the in-flight
// window, and the changes made during faults.
#pragma once

#include "draw.h"
#include "scenario.h"

namespace synod::sim {

// Spares, alpha, max_inflight and promote_lag. Drawn before the faults,
// which pick spares too.
void draw_membership_settings(Draw& d, Scenario& sc);
// Changes at random ticks during faults, their nodes picked at run time.
void add_membership_changes(Draw& d, Scenario& sc);

}  // namespace synod::sim

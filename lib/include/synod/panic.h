// What happens when an always-on safety assertion fails. By default the
// message goes to stderr and the process aborts. Test harnesses (the
// simulator) may install a handler that throws instead, to report the seed.
#pragma once

namespace synod {

using PanicHandler = void (*)(const char* message);
// Returns the previous handler. Pass nullptr to restore the default.
PanicHandler set_panic_handler(PanicHandler handler);

}  // namespace synod

#pragma once
// Text from files and models (experiment names, stored results, generated text) printed to a terminal: control
// characters are shown as \xNN instead of being sent raw, so no file can move the cursor, recolour the screen or
// retitle the window. Newlines and tabs stay.
#include <string>
#include <string_view>

namespace arrakis::cli {

std::string terminal_safe(std::string_view text);

}  // namespace arrakis::cli

// The error convention of the shim's C functions, shared by shim.cpp and autograd.cpp: a C++
// exception becomes its message without libtorch's backtrace, malloc'd for the Rust side to
// free with tp_free_string.
#pragma once

#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

inline char *tp_message(const std::exception &e) {
  std::string text = e.what();
  auto cut = text.find("\nException raised from");
  if (cut != std::string::npos) text = text.substr(0, cut);
  char *out = static_cast<char *>(std::malloc(text.size() + 1));
  std::memcpy(out, text.c_str(), text.size() + 1);
  return out;
}

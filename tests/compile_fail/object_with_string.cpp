// Must NOT compile: a shared_object cannot hold a type that owns memory elsewhere (here a
// std::string); ctest checks that the compiler says why.
#include <string>

#include "shmpool/shared_object.hpp"

struct settings {
    std::string path;
};

int main() { shmpool::shared_object<settings>::create("settings"); }

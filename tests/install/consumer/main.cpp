// Smallest program built against an *installed* shmpool (see run_consumer.cmake).
#include <unistd.h>

#include <exception>
#include <iostream>
#include <shmpool/shmpool.hpp>
#include <string>

int main() {
    const std::string name = "consumer_" + std::to_string(::getpid());
    int status = 1;
    try {
        {
            auto array = shmpool::shared_array<double>::create(name, {4, 3});
            array.view().fill(1.5);
            if (array.size() == 12 && array.data()[5] == 1.5) {
                status = 0;
            } else {
                std::cerr << "consumer: unexpected size or contents\n";
            }
        }
        shmpool::shared_array<double>::remove(name);
    } catch (const std::exception& e) {
        std::cerr << "consumer: " << e.what() << '\n';
        try {
            shmpool::shared_array<double>::remove(name);
        } catch (...) {
        }
        return 1;
    }
    if (status == 0) std::cout << "consumer: OK\n";
    return status;
}

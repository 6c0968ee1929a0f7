# The two commands of the README. Both install dependencies and build first.
BUILD ?= build

.PHONY: demo test build deps clean

demo: build
	./$(BUILD)/logstream demo $(DEMO_FLAGS)

test:
	scripts/test.sh

build: deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD) -j $$(nproc)

deps:
	scripts/install-deps.sh

clean:
	rm -rf build build-asan build-fuzz

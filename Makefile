VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
PYTHON ?= python3
# The functions run on python3.13 (template.yaml); the unit tests run on it too.
VENV313 ?= .venv313
STAMP313 := $(VENV313)/.installed
PYTHON313 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13.0/bin/python3) $(shell command -v python3.13 2>/dev/null))

# Scanners with dependency pins of their own, each in its own venv.
CHECKOV_VENV ?= .venv-checkov
SAM_VENV ?= .venv-sam
LOCK_VENV ?= .venv-lock

.PHONY: install browser demo test test-runtime lint typecheck bench clean checkov validate iam-unused openapi lock

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[dev]'
	touch $(STAMP)

# The console's browser tests drive Debian's chromium through its chromedriver. Installed here
# when missing (root, or sudo, with apt-get); otherwise those tests are skipped, loudly.
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) \
		|| echo "WARNING: could not install chromium: the console's browser tests will be SKIPPED" >&2; \
	elif command -v apt-get >/dev/null && command -v sudo >/dev/null; then \
		(sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) \
		|| echo "WARNING: could not install chromium: the console's browser tests will be SKIPPED" >&2; \
	else \
		echo "WARNING: no chromium and no apt-get: the console's browser tests will be SKIPPED" >&2; \
	fi

demo: install
	$(VENV)/bin/videojobs demo --out videos

test: install browser checkov test-runtime
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -n 2 --dist loadfile -q

# The unit tests (the callback and redirect address checks among them) on the Lambda runtime's
# Python, with only the functions' dependencies and what the tests need. No python3.13 is an
# error, never a silent skip.
test-runtime: $(STAMP313)
	$(VENV313)/bin/pytest -n 2 --dist loadfile -q -p no:cacheprovider --confcutdir=tests/unit tests/unit

$(STAMP313): pyproject.toml
	@test -n "$(PYTHON313)" || { echo "python3.13 (the functions' runtime) was not found: install it (pyenv install 3.13.0) or set PYTHON313=/path/to/python3.13" >&2; exit 1; }
	@$(PYTHON313) -c 'import sys; assert sys.version_info[:2] == (3, 13), sys.version' || { echo "$(PYTHON313) is not python3.13" >&2; exit 1; }
	test -x $(VENV313)/bin/python || $(PYTHON313) -m venv $(VENV313)
	$(VENV313)/bin/pip install --quiet --upgrade pip
	$(VENV313)/bin/pip install --quiet -e '.[unit]'
	touch $(STAMP313)

lint: install checkov
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

$(CHECKOV_VENV)/.installed:
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet 'checkov>=3.2,<4'
	touch $@

# Every check that does not fit is skipped in template.yaml, with its reason.
checkov: $(CHECKOV_VENV)/.installed
	$(CHECKOV_VENV)/bin/checkov -f template.yaml --framework cloudformation --skip-download --compact --quiet

$(SAM_VENV)/.installed:
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet 'aws-sam-cli>=1.140,<2'
	touch $@

# sam validate --lint (the SAM transform, then cfn-lint); not part of `make test`: the SAM CLI
# is a large install, and tests/unit/test_template.py runs cfn-lint with the transform already.
validate: $(SAM_VENV)/.installed
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam validate --lint --region us-east-1 --template template.yaml

# functions/requirements.txt, what `sam build` installs into every function: [project.dependencies]
# resolved on python3.13 (the functions' runtime) and pinned with the hash of every file of each
# pinned release, the manylinux aarch64 wheels among them. pip-compile resolves for the machine
# it runs on: no dependency has a platform marker, which tests/unit/test_lambda_requirements.py
# checks. Run after changing [project.dependencies], or to take newer releases.
$(LOCK_VENV)/.installed:
	@test -n "$(PYTHON313)" || { echo "python3.13 (the functions' runtime) was not found: install it (pyenv install 3.13.0) or set PYTHON313=/path/to/python3.13" >&2; exit 1; }
	test -x $(LOCK_VENV)/bin/python || $(PYTHON313) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet 'pip-tools>=7.5,<8'
	touch $@

lock: $(LOCK_VENV)/.installed
	CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/pip-compile --quiet --upgrade \
		--generate-hashes --strip-extras --no-emit-index-url --no-emit-find-links \
		--output-file functions/requirements.txt pyproject.toml

# docs/openapi.json from the routes and models (a unit test fails while the two differ).
openapi: install
	$(PY) -m videojobs.handlers.api_openapi docs/openapi.json

typecheck: install
	$(VENV)/bin/mypy

# Runs the whole suite recording every AWS call's IAM check, then lists in docs/security.md
# the permissions template.yaml grants that no call used.
IAM_RECORD := .local/iam-exercised.jsonl
iam-unused: install
	mkdir -p .local && rm -f $(IAM_RECORD)
	VIDEOJOBS_IAM_RECORD=$(CURDIR)/$(IAM_RECORD) $(VENV)/bin/pytest -n 2 --dist loadfile -q
	$(PY) -m videojobs_local.stack.iam_report $(IAM_RECORD) --template template.yaml --update docs/security.md

bench: install
	$(PY) bench/download.py

clean:
	rm -rf $(VENV) $(VENV313) $(CHECKOV_VENV) $(SAM_VENV) $(LOCK_VENV) .local .pytest_cache .mypy_cache .ruff_cache

"""`python -m scheduled`: the scheduler as its own process."""

from crm import create_app
from crm.jobs.scheduler import run_forever

if __name__ == "__main__":
    run_forever(create_app())

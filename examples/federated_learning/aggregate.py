"""Aggregation worker: FedAvg over the training workers' weights for ``exit_round`` rounds.

The strategy is ``aggregation_algorithm`` (default FedAvg); ``AGG_NAME``/``AGG_PARAMETERS`` in
the worker's env give it parameters (e.g. MultiKrum's ``num_malicious``). The number of
trainers a round waits for is ``participants_count``, else ``PARTICIPANTS_COUNT``, which the
controller sets to the number of training workers.
"""

from sedna.common.config import Context
from sedna.service.server import AggregationServer


def run_server():
    aggregation_algorithm = Context.get_parameters("AGG_NAME", Context.get_parameters("aggregation_algorithm", "FedAvg"))
    exit_round = int(Context.get_parameters("exit_round", 3))
    participants_count = Context.get_parameters("participants_count")
    server = AggregationServer(
        aggregation=aggregation_algorithm,
        exit_round=exit_round,
        ws_size=20 * 1024 * 1024,
        participants_count=int(participants_count) if participants_count else None,
    )
    server.start()


if __name__ == "__main__":
    run_server()

"""A Sedna 0.3 aggregation worker: ``servername=``, the port from ``AGG_PORT`` (7363)."""

from sedna.common.config import Context
from sedna.service.server import AggregationServer


def run_server():
    aggregation_algorithm = Context.get_parameters("aggregation_algorithm", "FedAvg")
    exit_round = int(Context.get_parameters("exit_round", 3))
    agg_ip = Context.get_parameters("AGG_IP", "0.0.0.0")
    agg_port = int(Context.get_parameters("AGG_PORT", "7363"))
    server = AggregationServer(
        servername=aggregation_algorithm,
        host=agg_ip,
        http_port=agg_port,
        exit_round=exit_round,
        ws_size=20 * 1024 * 1024
    )
    server.start()


if __name__ == '__main__':
    run_server()

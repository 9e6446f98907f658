"""A Sedna 0.4+ AggregationServerV2 worker."""

from interface import Dataset, Estimator, fedavg, simple_chooser, transmitter

from sedna.service.server import AggregationServerV2


def run_server():
    data = Dataset()
    estimator = Estimator()

    server = AggregationServerV2(
        data=data,
        estimator=estimator,
        aggregation=fedavg,
        transmitter=transmitter,
        chooser=simple_chooser)

    server.start()


if __name__ == '__main__':
    run_server()

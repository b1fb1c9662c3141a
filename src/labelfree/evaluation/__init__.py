"""Scoring label images against ground truth beyond one pair (:mod:`labelfree.metrics` scores a pair).

* :mod:`labelfree.evaluation.folders`: pairing predictions, images and ground truth of folders by stem, and
  the pooled totals of several images;
* :mod:`labelfree.evaluation.cli`: the ``labelfree eval`` command.
"""

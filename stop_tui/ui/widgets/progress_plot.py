"""Meta-utility (val and test) of the current improver per generation, drawn in the terminal."""

from __future__ import annotations

from textual_plotext import PlotextPlot

from ..model import RunModel


class ProgressPlot(PlotextPlot):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._points: tuple = ()

    def reset(self) -> None:
        self._points = ()

    def show(self, model: RunModel) -> None:
        points = self.points(model)
        if points == self._points:
            return
        self._points = points
        plt = self.plt
        plt.clear_data()
        plt.title("meta-utility of the current improver")
        plt.xlabel("generation")
        if points:
            generations = [g for g, _, _ in points]
            plt.plot(generations, [v for _, v, _ in points], label="val", marker="hd")
            plt.plot(generations, [t for _, _, t in points], label="test", marker="hd")
            plt.xticks(generations)
        plt.ylim(0, 1)
        self.refresh()

    @staticmethod
    def points(model: RunModel) -> tuple[tuple[int, float, float], ...]:
        """(generation, val, test) of the improver current after each decided generation."""
        points: dict[int, tuple[float, float]] = {}
        seed = next((c for c in model.candidates.values() if c.generation == 0 and c.val is not None), None)
        if seed is not None:
            points[0] = (seed.val, seed.test or 0.0)
        for view in model.generations:
            if view.decided and view.current_val is not None:
                points[view.generation] = (view.current_val, view.current_test or 0.0)
        return tuple((g, v, t) for g, (v, t) in sorted(points.items()))

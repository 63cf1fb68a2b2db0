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
        points = (self.points(model), self.proposals(model))
        if points == self._points:
            return
        self._points = points
        plt = self.plt
        plt.clear_data()
        plt.title("meta-utility of the current improver")
        plt.xlabel("generation")
        current, proposals = points
        if current:
            generations = [g for g, _, _ in current]
            plt.plot(generations, [v for _, v, _ in current], label="val", marker="braille")
            plt.plot(generations, [t for _, _, t in current], label="test", marker="braille")
            plt.xticks(sorted({*generations, *(g for g, _ in proposals)}))
        if proposals:
            plt.scatter([g for g, _ in proposals], [v for _, v in proposals], label="proposed (val)", marker="x")
        plt.ylim(0, 1)
        self.refresh()

    @staticmethod
    def proposals(model: RunModel) -> tuple[tuple[int, float], ...]:
        """(generation, val) of every proposal, accepted or not."""
        return tuple((v.generation, v.proposed_val) for v in model.generations if v.proposed_val is not None)

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

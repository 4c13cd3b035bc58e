from __future__ import annotations

from insights.analysis import AnalysisService
from insights.api import analysis_converters as converters
from insights.api.types import Context
from insights.context import current_call
from insights.v1 import analysis_pb2, analysis_pb2_grpc


class AnalysisServicer(analysis_pb2_grpc.AnalysisServiceServicer):
    def __init__(self, analysis: AnalysisService) -> None:
        self._analysis = analysis

    async def AnalyzeSentiment(
        self, request: analysis_pb2.AnalyzeSentimentRequest, context: Context
    ) -> analysis_pb2.SentimentResult:
        return converters.sentiment_result(await self._analysis.analyze(current_call.get(), request.text))

    async def AnalyzeSentimentBatch(
        self, request: analysis_pb2.AnalyzeSentimentBatchRequest, context: Context
    ) -> analysis_pb2.AnalyzeSentimentBatchResponse:
        results = await self._analysis.analyze_batch(current_call.get(), list(request.texts))
        return analysis_pb2.AnalyzeSentimentBatchResponse(results=[converters.sentiment_result(r) for r in results])

    async def GetModelInfo(self, request: analysis_pb2.GetModelInfoRequest, context: Context) -> analysis_pb2.ModelInfo:
        return converters.model_info(await self._analysis.model_info(current_call.get()))

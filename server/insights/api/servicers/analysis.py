from __future__ import annotations

from insights.api.converters import analysis as convert
from insights.api.types import Context
from insights.context import current_call
from insights.sentiment.analysis import AnalysisService
from insights.v1 import analysis_pb2, analysis_pb2_grpc


class AnalysisServicer(analysis_pb2_grpc.AnalysisServiceServicer):
    def __init__(self, analysis: AnalysisService) -> None:
        self._analysis = analysis

    async def AnalyzeSentiment(
        self, request: analysis_pb2.AnalyzeSentimentRequest, context: Context
    ) -> analysis_pb2.AnalyzeSentimentResponse:
        result = await self._analysis.analyze(current_call.get(), request.text)
        return convert.sentiment_result(analysis_pb2.AnalyzeSentimentResponse, result)

    async def AnalyzeSentimentBatch(
        self, request: analysis_pb2.AnalyzeSentimentBatchRequest, context: Context
    ) -> analysis_pb2.AnalyzeSentimentBatchResponse:
        results = await self._analysis.analyze_batch(current_call.get(), list(request.texts))
        return analysis_pb2.AnalyzeSentimentBatchResponse(
            results=[convert.sentiment_result(analysis_pb2.SentimentResult, r) for r in results]
        )

    async def GetModelInfo(
        self, request: analysis_pb2.GetModelInfoRequest, context: Context
    ) -> analysis_pb2.GetModelInfoResponse:
        return convert.model_info(await self._analysis.model_info(current_call.get()))

# ruff: noqa: RUF001  (Chinese text uses full-width punctuation on purpose)
"""Report wording in English and Chinese: one table of labels, chosen by the interview locale."""

from __future__ import annotations

from typing import Literal

Language = Literal["en", "zh"]

#: key → (English, Chinese). Placeholders use str.format names.
_TEXT: dict[str, tuple[str, str]] = {
    "title": ("Interview report", "面试报告"),
    "candidate": ("Candidate", "候选人"),
    "job": ("Job", "职位"),
    "interview": ("Interview", "面试"),
    "date": ("Interview start", "面试开始时间"),
    "locale": ("Language", "语言"),
    "jurisdiction": ("Jurisdiction", "司法辖区"),
    "profile_version": ("Profile version", "档案版本"),
    "label": ("Suggested outcome", "建议结论"),
    "label.recommend": ("Recommend", "推荐"),
    "label.pending": ("Pending", "待定"),
    "label.reject": ("Reject", "不推荐"),
    "review_note": (
        "This is a suggestion and needs confirmation by a person before it affects the candidate.",
        "此结论仅为建议，须经人工确认后方可对候选人产生影响。",
    ),
    "overall": ("Overall score", "综合得分"),
    "overall_missing": ("not available (insufficient evidence)", "无（证据不足）"),
    "dimensions": ("Dimension scores", "各维度得分"),
    "dimension": ("Dimension", "维度"),
    "kind": ("Kind", "类型"),
    "kind.competency": ("competency", "胜任力"),
    "kind.behaviour": ("behaviour", "行为"),
    "score": ("Score", "得分"),
    "confidence": ("Confidence", "置信度"),
    "evidence": ("Evidence", "依据"),
    "no_evidence": ("no evidence recorded", "无记录的依据"),
    "evidence.quote": ("quote", "引述"),
    "evidence.moment": ("moment", "时刻"),
    "evidence.key_frame": ("key frame", "关键帧"),
    "questions": ("Questions and answers", "问题与回答"),
    "question": ("Question", "问题"),
    "pressure": ("pressure question", "压力问题"),
    "window": ("Answer window", "回答时段"),
    "transcript": ("Transcript excerpt", "转写摘录"),
    "transcript_missing": (
        "No transcript (transcription not permitted or not received).",
        "无转写（未获许可或未收到）。",
    ),
    "transcript_empty": ("Nothing was said in this answer window.", "该回答时段内没有语音。"),
    "speech_missing": ("No speech results were received for this question.", "未收到该问题的语音分析结果。"),
    "competency_scores": ("Competency scores", "胜任力得分"),
    "competency": ("Competency", "胜任力"),
    "structure": ("Structure", "结构"),
    "specificity": ("Specificity", "具体性"),
    "speaking": ("Speaking", "表达"),
    "rate_wpm": ("{value} words/min", "{value} 词/分钟"),
    "rate_cpm": ("{value} characters/min", "{value} 字/分钟"),
    "pauses": ("{count} pauses, longest {longest}, {ratio} of the time", "停顿 {count} 次，最长 {longest}，占 {ratio}"),
    "speech_timeline": (
        "Speech and pauses (pauses over 0.5 s highlighted)",
        "语音与停顿（高亮显示超过 0.5 秒的停顿）",
    ),
    "fillers": ("{count} fillers", "填充词 {count} 个"),
    "first_word": ("first word after {value}", "{value} 后开始作答"),
    "eye_contact_in_window": ("eye contact {value}", "目光接触 {value}"),
    "window_found": ("found in the recording, question recognised {value}", "从录音中识别，问题识别置信度 {value}"),
    "window_found_unlisted": ("found in the recording, a question not on the list", "从录音中识别，未列出的问题"),
    "key_frames": ("Key frames", "关键帧"),
    "key_frame.start": ("start", "开始"),
    "key_frame.middle": ("middle", "中间"),
    "key_frame.end": ("end", "结束"),
    "behaviour": ("Behaviour over time", "行为随时间变化"),
    "eye_contact": ("Eye contact", "目光接触"),
    "face_present": ("Face in view", "面部在画面中"),
    "smile": ("Smile intensity", "微笑强度"),
    "face_absent": ("Face absent", "面部缺失"),
    "second_face": ("Second face", "出现第二张面孔"),
    "look_away": ("Looking away", "视线移开"),
    "no_vision": ("No video features were received.", "未收到视频特征。"),
    "facial_landmarks": ("Facial landmarks (468-point face mesh)", "面部关键点（468 点面部网格）"),
    "blinks": ("{count} blinks, {rate} per minute", "眨眼 {count} 次，每分钟 {rate} 次"),
    "mouth_opening": ("mouth opening {value} of face height", "张嘴幅度为脸高的 {value}"),
    "brow_lowering": ("brows lowered by {value} of face height", "眉毛下压脸高的 {value}"),
    "landmarks_unsupported": (
        "Blinks, mouth opening and brow measures: not measured, the face was too small in the picture.",
        "眨眼、张嘴与眉部测量：未测量，画面中脸部过小。",
    ),
    "expression": ("Expression", "表情"),
    "dominant_expression": ("Dominant expression per second", "每秒主要表情"),
    "expression_share": ("Share of face time per expression", "各表情所占面部时间比例"),
    "emotion_not_performed": (
        "Expression analysis was not performed: {reasons}. No smile or expression data is shown.",
        "未进行表情分析：{reasons}。因此不显示微笑与表情数据。",
    ),
    "emotion_partly_performed": (
        "Expression analysis was not performed for {missing} of {total} video chunks: {reasons}.",
        "{total} 个视频片段中有 {missing} 个未进行表情分析：{reasons}。",
    ),
    "speaking_charts": ("Speaking rate and pauses per question", "各问题的语速与停顿"),
    "speaking_rate_wpm": ("Speaking rate (words/min)", "语速（词/分钟）"),
    "speaking_rate_cpm": ("Speaking rate (characters/min)", "语速（字/分钟）"),
    "pause_ratio": ("Share of time in pauses", "停顿时间占比"),
    "longest_pause": ("Longest pause (s)", "最长停顿（秒）"),
    "no_speech": ("No speech results were received.", "未收到语音分析结果。"),
    "quality": ("Data quality and integrity", "数据质量与完整性"),
    "quality_none": ("No data-quality issues were reported.", "未报告数据质量问题。"),
    "coverage": ("Inputs received", "已接收的输入"),
    "coverage_vision": ("video chunks {received} of {expected}", "视频片段 {received}/{expected}"),
    "coverage_speech": ("speech segments {received} of {expected}", "语音片段 {received}/{expected}"),
    "partial": (
        "Partial profile: some inputs never arrived, so scores rest on part of the interview.",
        "不完整档案：部分输入未到达，得分仅基于部分面试内容。",
    ),
    "integrity": ("Integrity", "完整性检查"),
    "face_absent_total": ("face absent for {seconds} in {count} episode(s)", "面部缺失共 {seconds}，{count} 段"),
    "second_face_total": (
        "a second face in view for {seconds} in {count} episode(s)",
        "出现第二张面孔共 {seconds}，{count} 段",
    ),
    "integrity_clean": ("no face-absent or second-face episodes", "未发现面部缺失或第二张面孔"),
    "versions": ("Models and versions", "模型与版本"),
    "component": ("Component", "组件"),
    "version": ("Version", "版本"),
    "scoring_model": ("scoring model", "评分模型"),
    "competency_model": ("competency model", "胜任力模型"),
    "policy": ("jurisdiction policy", "辖区政策"),
    "footer": (
        "Generated by Sightline. Scores are automated suggestions; a person makes every decision.",
        "由 Sightline 生成。得分为自动化建议，所有决定均由人工作出。",
    ),
    "time_axis": ("time (mm:ss)", "时间（分:秒）"),
    "explanation": ("How this assessment was made", "评估说明"),
    "explanation_looked_at": ("The assessment looked at: {measures}.", "本次评估考察了：{measures}。"),
    "explanation_nothing_scored": ("Nothing was scored.", "未进行任何评分。"),
    "explanation_weights": (
        "What weighed most in the overall score (share of the score):",
        "综合得分中各维度的权重（占比）：",
    ),
    "explanation_not_measured": ("Not measured:", "未考察的内容："),
    "explanation_item": ("{name}: {value}", "{name}：{value}"),
    "left_out": (
        "Not shown: {measure}, left out of the assessment because of {reason}.",
        "未显示：因{reason}，{measure}未纳入评估。",
    ),
    "explanation_all_measured": ("Every measure was used.", "所有测量项均已使用。"),
    "explanation_accommodations": (
        "Accommodations applied: {items}. The measures they would distort were left out, not counted against "
        "the candidate.",
        "已采用的便利措施：{items}。受其影响的测量项未纳入评分，不会对候选人不利。",
    ),
    "none": ("none", "无"),
}

#: Data-quality flags; unknown flags are shown verbatim.
_FLAGS: dict[str, tuple[str, str]] = {
    "audio_only": ("audio only: no video was analysed", "仅音频：未分析视频"),
    "video_only": ("video only: no audio was analysed", "仅视频：未分析音频"),
    "no_face_detected": ("no face was detected", "未检测到面部"),
    "low_face_presence": ("the face was often out of view", "面部经常不在画面中"),
    "multiple_faces": ("more than one face was in view", "画面中出现多张面孔"),
    "poor_lighting": (
        "the room was too dark for the face measures to be fully reliable",
        "光线过暗，面部测量结果可能不够可靠",
    ),
    "low_audio_quality": ("low audio quality", "音频质量较差"),
    "short_answers": ("answers were very short", "回答过短"),
    "language_mismatch": ("spoken language differs from the interview language", "所说语言与面试语言不符"),
    "missing_vision_chunks": ("some video chunks are missing", "部分视频片段缺失"),
    "missing_speech_segments": ("some speech segments are missing", "部分语音片段缺失"),
    "emotion_inference_not_permitted": ("emotion inference was not permitted", "不允许进行情绪推断"),
    "transcription_not_permitted": ("transcription was not permitted", "不允许转写"),
    "scoring_not_permitted": ("automated scoring was not permitted", "不允许自动评分"),
    "video_analysis_not_permitted": (
        "video and face analysis were not permitted: nothing visual was measured",
        "不允许视频和面部分析：未考察任何视觉内容",
    ),
    "audio_analysis_not_permitted": (
        "audio analysis was not permitted: nothing spoken was measured",
        "不允许音频分析：未考察任何语音内容",
    ),
    "question_windows_inferred": (
        "the question windows were not given: they were found in the recording",
        "未提供问题时间段：系统从录音中识别",
    ),
    "question_windows_not_found": ("no question could be found in the recording", "录音中未能识别出问题"),
    "posture_not_measurable": (
        "the shoulders were never in view: posture could not be measured",
        "双肩始终不在画面中：无法测量姿态",
    ),
    "question_windows_incomplete": (
        "fewer answers were found than questions were asked",
        "识别出的回答少于所提问题",
    ),
    "question_match_uncertain": ("which question was asked is uncertain", "所提问题的识别不确定"),
    "question_not_listed": ("a question was asked that is not on the list", "面试中有未列出的问题"),
    "question_matched_by_order": ("questions were matched by their order", "问题按提问顺序对应"),
    "face_too_small_for_landmarks": (
        "the face was too small in the picture for blink, mouth and brow measures",
        "画面中脸部过小，无法测量眨眼、嘴部和眉部",
    ),
}

#: Why emotion inference was not performed; unknown reasons are shown verbatim.
_EMOTION_REASONS: dict[str, tuple[str, str]] = {
    "no_consent": ("the candidate did not consent to it", "候选人未同意"),
    "jurisdiction_prohibits": ("the jurisdiction does not allow it", "所在司法辖区不允许"),
    "no_face_detected": ("no face was detected", "未检测到面部"),
    "disabled": ("it is disabled in this deployment", "本部署已禁用该功能"),
    "reason_not_recorded": ("the reason was not recorded", "原因未记录"),
}

_EXPRESSIONS: dict[str, tuple[str, str]] = {
    "neutral": ("neutral", "中性"),
    "happiness": ("happiness", "高兴"),
    "surprise": ("surprise", "惊讶"),
    "sadness": ("sadness", "悲伤"),
    "anger": ("anger", "愤怒"),
    "disgust": ("disgust", "厌恶"),
    "fear": ("fear", "恐惧"),
    "contempt": ("contempt", "轻蔑"),
}

#: Behaviour dimensions fusion scores; competencies keep the ids of the job's competency model.
_DIMENSIONS: dict[str, tuple[str, str]] = {
    "communication": ("Communication", "沟通表达"),
    "confidence": ("Confidence", "自信"),
    "composure": ("Composure", "沉着"),
    "emotional_stability": ("Emotional stability", "情绪稳定性"),
    "expression_positivity": ("Expression positivity", "表情积极度"),
    "logic_structure": ("Logic and structure", "逻辑与结构"),
    "logic_and_structure": ("Logic and structure", "逻辑与结构"),
    "engagement": ("Engagement", "投入度"),
    "eye_contact": ("Eye contact", "目光接触"),
}


#: What the assessment looks at, as services/fusion/explanation.py groups it.
_MEASURES: dict[str, tuple[str, str]] = {
    "answer_content": ("what the answers said (content and structure)", "回答内容（内容与结构）"),
    "speaking_fluency": ("speaking fluency (rate, pauses, filler words)", "表达流畅度（语速、停顿、填充词）"),
    "voice": ("voice liveliness (pitch and loudness)", "语音生动度（音高与音量）"),
    "eye_contact": ("eye contact and looking away", "目光接触与视线移开"),
    "expression": ("facial expression", "面部表情"),
    "posture_and_motion": ("posture and movement", "姿态与动作"),
}

#: Why a measure was not used; unknown reasons are shown verbatim.
_NOT_MEASURED_REASONS: dict[str, tuple[str, str]] = {
    "no_consent": ("the candidate did not consent to it", "候选人未同意"),
    "jurisdiction_prohibits": ("the law where the interview took place does not allow it", "面试所在地的法律不允许"),
    "no_separate_consent": (
        "the law where the interview took place asks a separate consent to face data, which was not given",
        "面试所在地的法律要求对面部数据单独同意，但未获得该同意",
    ),
    "no_video": ("there was no video", "没有视频"),
    "no_audio": ("there was no audio", "没有音频"),
    "accommodation_stutter": ("an accommodation for a stutter", "针对口吃的便利措施"),
    "accommodation_facial_difference": ("an accommodation for a facial difference", "针对面部差异的便利措施"),
    "accommodation_no_camera": ("an accommodation: interview without a camera", "便利措施：无摄像头面试"),
    "accommodation_low_vision": ("an accommodation for low vision", "针对视力障碍的便利措施"),
}

_ACCOMMODATIONS: dict[str, tuple[str, str]] = {
    "stutter": ("stutter", "口吃"),
    "facial_difference": ("facial difference", "面部差异"),
    "no_camera": ("no camera", "无摄像头"),
    "low_vision": ("low vision", "视力障碍"),
}


def measure_text(language: Language, measure: str) -> str:
    pair = _MEASURES.get(measure)
    return _pick(pair, language) if pair else measure


def not_measured_reason_text(language: Language, reason: str) -> str:
    pair = _NOT_MEASURED_REASONS.get(reason)
    return _pick(pair, language) if pair else reason


def accommodation_text(language: Language, accommodation: str) -> str:
    pair = _ACCOMMODATIONS.get(accommodation)
    return _pick(pair, language) if pair else accommodation


def language_for_locale(locale: str) -> Language:
    """Chinese for any ``zh`` locale (zh-CN, zh-Hans-CN, zh-TW), English otherwise."""
    return "zh" if locale.split("-")[0].lower() == "zh" else "en"


def _pick(pair: tuple[str, str], language: Language) -> str:
    return pair[0] if language == "en" else pair[1]


def text(language: Language, key: str, **values: object) -> str:
    """The label ``key`` in ``language``, with ``values`` filled in."""
    template = _pick(_TEXT[key], language)
    return template.format(**values) if values else template


def flag_text(language: Language, flag: str) -> str:
    pair = _FLAGS.get(flag)
    return _pick(pair, language) if pair else flag


def emotion_reason_text(language: Language, reason: str) -> str:
    pair = _EMOTION_REASONS.get(reason)
    return _pick(pair, language) if pair else reason


def expression_text(language: Language, expression: str) -> str:
    pair = _EXPRESSIONS.get(expression)
    return _pick(pair, language) if pair else expression


def dimension_text(language: Language, dimension: str) -> str:
    """A behaviour dimension's name; any other id (a competency of the job's model) is shown as written."""
    pair = _DIMENSIONS.get(dimension.lower().replace("-", "_"))
    return _pick(pair, language) if pair else dimension


def list_separator(language: Language) -> str:
    return ", " if language == "en" else "、"

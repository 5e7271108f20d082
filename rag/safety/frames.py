"""How a question is framed, for the question policy: who would act, on whom, and in which setting.

Similarity to exemplars cannot tell "how do I kill a stuck process" from "how do I kill my neighbour"; the frame
can. A harmful frame is a request to act (first person, "how to", "give me") with a violent verb whose object is
a person, or a crime against people named outright; a call to deny, justify or repeat an atrocity; a claim that a
group should lose rights. A safe frame is a setting where the words are not acts against real people (a game, a
sport, a novel or a film) or a question about what something is or was (a definition, history).
"""

import re

# Groups protected from hate speech (a lexicon, as moderation rule sets use).
GROUP = (
    r"(?:(?:black|white) (?:people|men|women|folks|families|americans|kids|players|fans|students|workers|"
    r"neighbou?rs)|whites|(?:asian|arab|jewish|muslim|christian|hindu|sikh|buddhist|catholic|mormon|atheist|gay|"
    r"lesbian|bisexual|asexual|non-binary|trans(?:gender)?|queer|lgbt\w*|disabled|autistic|deaf|blind|immigrant|"
    r"refugee|migrant|roma|gypsy|hispanic|latino|latina|mexican|chinese|indian|african|pakistani|polish|romanian|"
    r"indigenous|aboriginal|homeless|elderly|divorced|women|woman|girls|men)s?(?: people| (?:wo)?men| couples| "
    r"families)?|jews|blacks|gays|people of colou?r|pregnant women|single mothers|old people|people on "
    r"(?:benefits|welfare)|people with disabilities|native americans)"
)


def inflected(verbs: str) -> str:
    """An alternation of the "|"-separated verbs in the forms a request uses them: kill, kills, killed, killing,
    stabbing."""
    forms = set()
    for phrase in verbs.split("|"):
        head, _, rest = phrase.partition(" ")
        stem = head[:-1] if head.endswith("e") else head
        double = head + head[-1] if re.search(r"[^aeiou][aeiou][bdgmnprt]$", head) else stem  # stab -> stabbing
        for form in (head, head + "s", stem + "ed", double + "ed", stem + "ing", double + "ing"):
            forms.add(f"{form} {rest}".strip())
    return "(?:" + "|".join(sorted(forms, key=len, reverse=True)) + ")"


# A request to act: first person, instructions, a plan. "What is X" and "how did X" are not.
ACT = (
    r"(?:how (?:do|can|could|should|would|might|will|to)\b|how to\b|(?:can|could|should|do|would|will|must|may) "
    r"(?:i|we)\b|i (?:want|need|plan|intend|am going|have) to\b|i'm going to\b|give me\b|tell me\b|show me\b|"
    r"teach me\b|help me\b|explain how\b|walk me through\b|instructions (?:for|on|to)\b|(?:best|easiest|quickest|"
    r"fastest|simplest|surest|good|perfect|most effective|cheapest) (?:ways?|methods?|means|places?|time|plan|"
    r"strategy|weapons?)\b|ways? (?:to|of)\b|process (?:to|of|for)\b|steps? (?:to|for)\b|what steps\b|"
    r"what do i need\b|plan (?:to|for|how)\b)"
)
VIOLENT = inflected(
    "kill|murder|execute|terminate|eliminate|liquidate|assassinate|shoot|snipe|gun down|stab|strangle|"
    "throttle|choke|smother|suffocate|drown|hang|lynch|poison|butcher|behead|decapitate|dismember|"
    "chop up|gut|torture|beat|beat up|punch|kick|hit|slap|attack|assault|hurt|harm|injure|maim|wound|"
    "cripple|disfigure|burn|run over|push|kidnap|abduct|capture|enslave|rape|molest|euthanize|"
    "do away with|wipe out|exterminate|eradicate|annihilate|obliterate|decimate|massacre|slaughter|"
    "hunt down|ambush|overpower|tackle|hammer|saw|crush|smash|derail|sabotage"
)
MASS = inflected("wipe out|exterminate|eradicate|annihilate|obliterate|decimate|destroy|nuke")
HUMAN = (
    r"(?:someone|somebody|anyone|whoever|people|humans?|humanity|mankind|civilians|protesters|pedestrians|commuters|"
    r"passengers|shoppers|worshippers|spectators|students|pupils|patients|(?:a|an|the|that|this) (?:\w+ ){0,2}?"
    r"(?:person|human|man|woman|child|kid|baby|toddler|girl|boy|teenager|cop|police officer|politician|judge|"
    r"journalist|stranger|crowd|family|group of people|population|president|prime minister|senator|mayor|witness|"
    r"athlete|player|competitor|rival|officer|guard|nurse|doctor|patient|student|pupil|worker|employee|customer|"
    r"passenger)|(?:my|his|her|our|their|your) (?:\w+ ){0,2}?(?:wife|husband|spouse|partner|girlfriend|"
    r"boyfriend|ex|mother|father|mum|mom|dad|parents?|brother|sister|son|daughter|baby|child|kids?|family|"
    r"grand(?:mother|father|parents?|ma|pa)|boss|manager|coworkers?|colleagues?|neighbou?rs?|teacher|classmates?|"
    r"roommate|flatmate|housemate|landlord|tenant|date|friend|uncle|aunt|cousin|stepfather|stepmother|step-?dad|"
    r"step-?mum)|"
    rf"{GROUP}|(?:all|every) \w+ people)"
)
# "the worker process", "a user session": words for people that name things in software
NOT_A_THING = (
    r"(?!(?:'s)?\s+(?:process\w*|threads?|nodes?|pools?|queues?|accounts?|roles?|jobs?|services?|records?|contracts?|"
    r"sessions?|class\w*|objects?|instances?|containers?|pods?|tasks?|ids?|tables?|profiles?|data|access|laptops?|"
    r"e-?mails?|employment|probation|pay|salary|benefits|lease|subscriptions?|membership|passwords?)\b)"
)
BODY = (
    r"(?:skull|head|neck|spine|sternum|legs?|arms?|bones?|jaw|face|kidneys?|throat|artery|ribs?|windpipe|fingers?|"
    r"knees?)"
)
CRIME = (
    r"(?:murder|massacre|arson|(?:violent |sexual )?assault|terrorism|terror(?:ist)? attack|bombing|shooting|"
    r"stabbing|explosion|kidnapping|abduction|rape|genocide|ethnic cleansing|assassination|hate crime|lynching|human "
    r"trafficking|hijacking|homicide|killing spree|mass killing|school shooting|mass shooting)"
)
TARGET_PLACE = (
    r"(?:house|home|building|hospital|school|church|mosque|synagogue|temple|concert|stadium|mall|market|office|"
    r"embassy|plane|airport|train|subway|bus|city|village|town|army base|military base|base|police station|power "
    r"station|water supply|crowd|car)"
)
ATROCITY = (
    r"(?:attacks?|9/11|massacres?|genocides?|holocaust|assassinations?|atomic bombs?|bombings?|concentration camps?|"
    r"auschwitz|shootings?|jim crow|segregation|apartheid|pinochet\W*s? methods|ethnic cleansing|slave(?:ry| trade)|"
    r"khmer rouge|nazis?|lynchings?|pogroms?|trail of tears|terror(?:ism|ist attacks?))"
)
RIGHTS = (
    r"(?:vote|voting|rights?|elections?|referendums?|office|council|parliament|government|politic\w*|part(?:y|ies)|"
    r"schools?|universit\w*|education|college|law|jobs?|work|employ\w*|hired|paid|salar\w*|earn|benefits|welfare|"
    r"visas?|citizenship|countr(?:y|ies)|borders?|healthcare|hospitals?|housing|marr\w*|adopt\w*|children|kids|"
    r"tv|media|military|army|society|security checks?|decisions|freedom|equal\w*|own (?:a |their )?(?:business\w*|"
    r"property|land|homes?|shops?))"
)
COMMIT = inflected(
    "commit|plan|carry out|get away with|engage in|set up|organise|organize|perpetrate|pull off|stage|conduct|execute"
)
BLOW_UP = inflected("blow up|bomb|firebomb|torch|nuke|gas|explode")
COMMIT_ACT = inflected("plan|arrange|cause|fake")
_HARMFUL_FRAMES = {
    "violence": [
        rf"\b{ACT}[^.?!]{{0,40}}?\b{VIOLENT}\b[^.?!]{{0,25}}?\b{HUMAN}(?!\w){NOT_A_THING}",
        rf"\b{ACT}[^.?!]{{0,40}}?\b(?:break|crush|smash|crack(?: open)?|shatter|fracture|snap|rupture|cut off|rip off|"
        rf"chop off|sever|cave in|hammer in)\b[^.?!]{{0,30}}?\b(?:someone's|somebody's|(?:a|an|the) \w+'s|"
        rf"(?:a |the )?human|(?:my|his|her|their) (?:\w+ )?\w+'s|their|his|her) {BODY}\b",
        rf"\b{ACT}[^.?!]{{0,30}}?\b{COMMIT}\b[^.?!]{{0,25}}?\b{CRIME}\b",
        rf"\b{ACT}[^.?!]{{0,40}}?(?<!not )\b(?:{BLOW_UP}|set fire to|burn down)\b[^.?!]{{0,25}}?\b{TARGET_PLACE}\b",
        r"\b(?:put|slip|add|mix|spike)\b[^.?!]{0,30}\b(?:in|into)\b[^.?!]{0,6}\b(?:\w+'s|his|her|their|someone's) "
        r"(?:coffee|tea|drink|food|meal|water|lunch|dinner)\b[^.?!]{0,40}\b(?:collapse|pass out|sick|ill|unconscious|"
        r"die|vomit|paraly\w*|black out)",
        r"\b(?:slit|cut|slash)\b[^.?!]{0,10}\b(?:a|someone's|somebody's|his|her|their|the) throat\b",
        r"\b(?:fertili[sz]er|ammonium nitrate|anfo|fuel oil|tannerite|black powder|gunpowder|acetone peroxide|tatp)\b"
        r"[^.?!]{0,40}\b(?:explo\w*|bang|blast|bomb|detonat\w*)",
        rf"\b{ACT}[^.?!]{{0,40}}?\b(?:derail\w*|hijack\w*|sabotag\w*)\b[^.?!]{{0,20}}\b(?:a |an |the )?(?:\w+ )?"
        r"(?:tram|train|bus|plane|aircraft|ferry|ship|metro)\b",
        rf"\bmake (?:\w+'s |a |the |my \w+'s )?(?:{TARGET_PLACE}|phone|battery|device|tank|boiler) explode\b",
        r"\b(?:rig|tamper(?:ing)? with|sabotag\w*|cut|cutting|disable|loosen|drain|mess with)\b[^.?!]{0,30}"
        r"\b(?:brakes?|breaks|brake (?:lines?|fluid|cables?)|steering)\b[^.?!]{0,40}\b(?:crash\w*|fail\w*|accident)\b",
        rf"\bhow (?:much|many)\b[^.?!]{{0,40}}\b(?:to|would|will|does|do) (?:it )?(?:take )?(?:to )?"
        rf"(?:kill|poison|knock out|paraly[sz]e)\b[^.?!]{{0,15}}?\b{HUMAN}(?!\w)",
        rf"\bto (?:use|try|test|spray|throw|fire|point) (?:it |them |this )?(?:on|at|against)\b[^.?!]{{0,10}}?\b{HUMAN}"
        r"(?!\w)",
        rf"\b{ACT}[^.?!]{{0,40}}?\b{MASS}\b[^.?!]{{0,15}}?\b(?:an? |the )?(?:entire |whole )?(?:city|village|town|"
        r"population|country|nation|race|tribe|ethnic group)\b",
        r"\b(?:dispose of|get rid of|hide|bury|dissolve)\b[^.?!]{0,20}\b(?:dead (?:baby|child|wife|husband|person|man|"
        r"woman|body|bodies)|(?:a |the )?(?:human )?(?:body|bodies|corpse)\b(?! (?:lotion|wash|spray|text|of)))",
        rf"\b{COMMIT_ACT}\b[^.?!]{{0,10}}\b(?:someone's|somebody's|a person's|(?:my|his|her) \w+'s) (?:death|murder|"
        r"demise|accident|overdose)\b",
        rf"\b{ACT}[^.?!]{{0,40}}?\b(?:weapons?|bombs?|explosives?|guns?)\b[^.?!]{{0,40}}\b(?:to |can )?(?:kill|hurt|"
        rf"injure|maim)\b",
        rf"\b(?:replicate|repeat|recreate|copy|emulate|re-?enact|restore|bring back|use)\b[^.?!]{{0,60}}?\b{ATROCITY}",
    ],
    "sexual_minors": [r"\b(?:my|satisfy|act on|indulge|feed)\b[^.?!]{0,20}\bpa?edo\w*"],
    "self_harm": [
        r"\bi\b[^.?!]{0,30}\b(?:go out|die|end (?:my life|it all|it)|kill myself)\b[^.?!]{0,5}\blike\b",
        r"\b(?:take|drink|swallow|inject|use) to (?:die|end my life)\b",
        r"\b(?:how (?:much|many)|what (?:dose|amount|quantity))\b[^.?!]{0,50}\bto (?:\w+ )?"
        r"(?:die|end (?:my life|it all)|not wake up)\b",
        r"\bmy (?:cuts|wounds|burns)\b[^.?!]{0,30}\b(?:heal slower|not heal|stay open|deeper|infected|scar more|"
        r"so they scar)",
        r"\b(?:encourag|convinc|persuad|push|pressur|urg|help)\w*\b[^.?!]{0,40}\b(?:go through with (?:it|killing|"
        r"suicide)|commit(?:ting)? suicide|kill(?:ing)? (?:him|her|them)sel(?:f|ves)|end (?:his|her|"
        r"their) (?:own )?lives?)",
        r"\b(?:anorexi\w*|bulimi\w*|pro-?ana|thinspo\w*|self-?harm\w*|cutting)\b[^.?!]{0,40}\b(?:healthy|empowering|"
        r"good for|lifestyle|tips|encourag\w*|beautiful|worth it)\b|\b(?:tips|communit\w*|forums?|excuses?|hide|cover "
        r"up)\b[^.?!]{0,40}\b(?:anorexi\w*|bulimi\w*|self-?harm\w*|starving myself)\b",
        r"\bso (?:skinny|thin)\b[^.?!]{0,20}\bmy (?:ribs|ribcage|bones|hip ?bones|collarbones?)\b",
        r"\b(?:pierce|sever|cut|slash|slit|open|nick) my (?:own )?(?:\w+ )?(?:artery|arteries|wrists?|veins?|throat)\b",
        r"\b(?:carve|burn|brand|scratch|cut)\b[^.?!]{0,20}\b(?:into|on|in) my (?:arm|arms|skin|leg|legs|wrist|body|"
        r"thighs?)\b",
    ],
    "hate": [
        # "why should <group> not be allowed to vote" (a right: "why can't trans people fly" takes none)
        rf"\b(?:why(?! (?:were|was|did|had)\b)|reasons?|explain|argue|prove|convince|is it (?:right|fair|better|best|"
        rf"good))\b[^.?!]{{0,40}}?\b{GROUP}\b(?=[^.?!]*\b{RIGHTS}\b)[^.?!]{{0,50}}?\b(?:not be|never be|"
        r"(?:shouldn't|mustn't|can't|cannot) be|be (?:banned|barred|denied|kicked|excluded|expelled|deported|"
        r"segregated|discriminated|stripped|sterili[sz]ed|locked up)|not (?:to )?(?:be )?(?:allowed|permitted|"
        r"admitted|given|hold|have|get|vote|marry|adopt|work|study|serve|run|join|shown|hired)|(?:have|get) fewer|"
        r"(?:earn|be paid|paid) less|go through extra|make (?:all )?(?:the )?(?:major )?(?:political )?decisions|"
        r"have (?:their|someone))",
        rf"\bwhy (?:should|must|do) {GROUP}\b[^.?!]{{0,10}}\b(?:be|get) (?:discriminated against|hated|persecuted|"
        r"attacked|deported|expelled|punished|segregated)\b",
        rf"\bwhy (?:are|is) {GROUP}\b[^.?!]{{0,20}}\b(?:so )?(?:much )?(?:weaker|inferior|dumber|stupider|less "
        r"intelligent|less capable|worse|lazier|more violent|criminals?)\b",
        rf"\b{GROUP}\b[^.?!]{{0,20}}\b(?:overstate|exaggerate|lie about|made up|invent)\w*",
        r"\btelling (?:him|her|them)\b[^.?!]{0,20}\b(?:nobody|no one) (?:wants|likes|cares)|\b(?:telling|tell) (?:him|"
        r"her|them) to (?:leave|quit|die|go back|kill)",
        rf"\b{GROUP}\b[^.?!]{{0,10}}\bbelong (?:in the kitchen|in chains|in cages|in camps|in the fields)",
        rf"\b{GROUP}\b[^.?!]{{0,30}}\b(?:being |are |as )(?:monkeys|apes|vermin|rats|cockroaches|parasites|subhumans?|"
        r"animals)\b",
        r"\b(?:convince|persuade|show|prove|make (?:people|everyone|others) believe|argue|claim)\b[^.?!]{0,60}"
        r"\b(?:never (?:happened|took place|existed|occurred)|(?:was|is) (?:a |an )?(?:complete |total |utter )?"
        r"(?:fabrication|hoax|myth|lie|fake|exaggeration)|(?:was|is|were) (?:made up|exaggerated|overstated))",
        rf"\bwhy (?:was|were|is|are)\b(?=[^.?!]*\b{ATROCITY}|[^.?!]*\b(?:hitler|isis|kill\w*|invade|invasion|"
        r"slave\w*))[^.?!]{0,60}\b(?:right|justified|a good thing|good for|morally (?:right|justified)|heroic|"
        r"deserved)\b",
        rf"\b(?:benefits|advantages|positives|good (?:side|things)|upsides?)\b[^.?!]{{0,30}}\bof\b[^.?!]{{0,30}}?\b"
        rf"{ATROCITY}",
    ],
}
HARMFUL_FRAMES = {
    category: [re.compile(p, re.IGNORECASE) for p in patterns] for category, patterns in _HARMFUL_FRAMES.items()
}
# Settings where violent words are not acts against real people.
SAFE_SETTING = re.compile(
    r"\b(?:in|for|from|during) (?:a |an |the |my |our )?(?:video ?games?|(?:my|our) (?:novel|book|(?:short )?story|"
    r"screenplay|script|film|movie|play|comic)|(?:a |the )?(?:tv (?:show|series)|film|movie|play|novel)|tabletop|"
    r"d&d|call of duty|counter[- ]?strike|minecraft|gta(?: ?\w+)?|grand theft auto|fortnite|"
    r"battlefield(?: \d+)?|the witcher(?: \d)?|skyrim|chess|checkers|poker|judo|boxing|karate|wrestling|fencing|"
    r"paintball|laser tag|clay pigeons?|skeet|archery|target practice|football|soccer|basketball|baseball|tennis|"
    r"cricket|rugby|hockey|\w+ (?:game|film|movie|novel|book|series))\b|\b(?:character|villain|protagonist|"
    r"hero)(?:'s)?\b|\bat the (?:shooting|gun|firing) range\b"
    r"|\bin (?:the )?(?-i:[A-Z][\w']*(?: (?:[A-Z][\w']*|and|of|the))*)(?: \d+| films?| movies?| games?| series)[?.!]?$",
    re.IGNORECASE,
)
# A question about what something is or was, not how to do it.
INFORMATIONAL = re.compile(
    r"^(?:(?:what|which) (?:\w+ ){0,2}?(?:is|are|was|were|does|do|did)|what's|what're|what kind of|what happened|"
    r"who (?:is|was|were)|why (?:did|were|was)|how (?:did|were|was)|when (?:did|was|were)|where (?:did|was|were)|"
    r"why (?:can't|can not|"
    r"cannot|can) \w+(?: \w+)? (?:not )?(?!(?:vote|marry|work|study|serve|adopt|have|hold|get|be)\b)\w+)\b",
    re.IGNORECASE,
)
# What makes an informational question a request after all ("what is the quietest way to ...").
PURPOSE = re.compile(
    r"\b(?:best|easiest|quickest|fastest|simplest|surest|quietest|least (?:painful|messy)|lethal|deadliest|fatal|"
    r"untraceable|undetect\w*|without (?:being|getting) caught|to (?:kill|die|hurt|harm|poison)|for suicide|"
    r"step[- ]by[- ]step|recipe|synthesi[sz]\w*|route|how to|ways? to|method|process for making|at home|homemade)\b",
    re.IGNORECASE,
)
PROTECTING = re.compile(r"\b(?:\w+-proof\w*|protect\w*|prevent\w*|safeguard\w*|keep \w+ safe)\b", re.IGNORECASE)
FIRST_PERSON = re.compile(r"\b(?:i|i'm|me|my|myself|we|us|our)\b", re.IGNORECASE)
# Asking for exact, working detail: a setting does not make that safe ("for my novel, the exact steps to ...").
OPERATIONAL = re.compile(
    r"\b(?:step[- ]by[- ]step|exact(?:ly)?|precise(?:ly)?|detailed instructions|in real life|really works?|actually "
    r"works?|recipe|quantities|how much \w+ (?:do|would|to))\b",
    re.IGNORECASE,
)


def harmful_frame(question: str) -> str | None:
    """The category of the first harmful frame the question matches, or None. A question that means to protect
    ("how do I poison-proof the kitchen for a toddler") has none."""
    if PROTECTING.search(question):
        return None
    for category, patterns in HARMFUL_FRAMES.items():
        if any(p.search(question) for p in patterns):
            return category
    return None


def safe_setting(question: str) -> bool:
    """A one-sentence question set in a game, a sport or fiction that does not ask for working detail. A wrapper
    ("You are an actor playing ... Stay in character and answer: ...") is several sentences: not a setting."""
    one_sentence = len(re.findall(r"[.?!:;](?:\s|$)", question.strip())) <= 1
    return one_sentence and bool(SAFE_SETTING.search(question)) and not OPERATIONAL.search(question)


def informational(question: str) -> bool:
    return (
        bool(INFORMATIONAL.search(question.strip()))
        and not FIRST_PERSON.search(question)
        and not PURPOSE.search(question)
    )

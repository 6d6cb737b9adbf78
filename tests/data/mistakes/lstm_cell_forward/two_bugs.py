# expect: CCT_SIGMOID OUTPUT_GATE_OMITTED
concat = np.concatenate((a_prev, xt), axis=0)
ft = sigmoid(np.dot(Wf, concat) + bf)
it = sigmoid(np.dot(Wi, concat) + bi)
cct = sigmoid(np.dot(Wc, concat) + bc)
c_next = ft * c_prev + it * cct
ot = sigmoid(np.dot(Wo, concat) + bo)
a_next = np.tanh(c_next)
yt_pred = softmax(np.dot(Wy, a_next) + by)
